package sandbox

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// §9 items 4–8: the System Register.

var altUUIDRe = regexp.MustCompile(`^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"\n?$`)

// TestAltinnCreateSystem: §3.1 checks with exact codes and paths, all in one 400; a bad vendor prefix
// alone and at once; 403 beats 400; success is 200 with the internal UUID as a JSON string.
func TestAltinnCreateSystem(t *testing.T) {
	e := newAltEnv(t)
	with := func(mod func(b map[string]any)) map[string]any {
		b := altSystemBody(altOrg+"_new", altOrg)
		mod(b)
		return b
	}
	cases := []struct {
		name  string
		body  map[string]any
		codes []string // nil: 200
		path  string   // a path expected for codes[0]
	}{
		{"valid", with(func(map[string]any) {}), nil, ""},
		{"id prefix not vendor", with(func(b map[string]any) { b["id"] = altOther + "_x" }), []string{"AUTH.VLD-00001"}, pathSystemID},
		{"id without underscore", with(func(b map[string]any) { b["id"] = altOrg }), []string{"AUTH.VLD-00001"}, pathSystemID},
		{"id with space", with(func(b map[string]any) { b["id"] = altOrg + "_a b" }), []string{"AUTH.VLD-00013"}, pathSystemID},
		{"unknown resource", with(func(b map[string]any) { b["rights"] = []any{altRight("no-such-resource")} }), []string{"AUTH.VLD-00003"}, pathRights},
		{"attribute id", with(func(b map[string]any) {
			b["rights"] = []any{map[string]any{"resource": []any{map[string]any{"id": "urn:altinn:app", "value": ResourceExample}}}}
		}), []string{"AUTH.VLD-00009"}, pathRights},
		{"maskinporten schema", with(func(b map[string]any) { b["rights"] = []any{altRight(ResourceMaskinportenSchema)} }), []string{"AUTH.VLD-00017"}, pathRights},
		{"duplicate right", with(func(b map[string]any) { b["rights"] = []any{altRight(ResourceExample), altRight(ResourceExample)} }), []string{"AUTH.VLD-00006"}, pathRights},
		{"duplicate package", with(func(b map[string]any) {
			b["accessPackages"] = []any{map[string]any{"urn": PackageAssignable}, map[string]any{"urn": PackageAssignable}}
		}), []string{"AUTH.VLD-00007"}, pathPackages},
		{"non-assignable package", with(func(b map[string]any) { b["accessPackages"] = []any{map[string]any{"urn": PackageNotAssignable}} }), []string{"AUTH.VLD-00008"}, pathPackages},
		{"malformed package", with(func(b map[string]any) {
			b["accessPackages"] = []any{map[string]any{"urn": "urn:altinn:skattegrunnlag"}}
		}), []string{"AUTH.VLD-00008"}, pathPackages},
		{"visible client-relation package", with(func(b map[string]any) {
			b["isVisible"] = true
			b["accessPackages"] = []any{map[string]any{"urn": PackageClientRelation}}
		}), []string{"AUTH.VLD-00018"}, pathPackages},
		{"hidden client-relation package", with(func(b map[string]any) { b["accessPackages"] = []any{map[string]any{"urn": PackageClientRelation}} }), nil, ""},
		{"http redirect", with(func(b map[string]any) { b["allowedRedirectUrls"] = []string{"http://x.no/cb"} }), []string{"AUTH.VLD-00005"}, pathRedirect},
		{"relative redirect", with(func(b map[string]any) { b["allowedRedirectUrls"] = []string{"/cb"} }), []string{"AUTH.VLD-00005"}, pathRedirect},
		{"missing nn (strict)", with(func(b map[string]any) { b["name"] = map[string]any{"nb": "a", "en": "b"} }), []string{vldLanguages}, pathName},
		{"extra language (strict)", with(func(b map[string]any) {
			b["description"] = map[string]any{"nb": "a", "nn": "a", "en": "b", "se": "c"}
		}), []string{vldLanguages}, pathDescription},
		{"empty en (strict)", with(func(b map[string]any) { b["name"] = map[string]any{"nb": "a", "nn": "a", "en": " "} }), []string{vldLanguages}, pathName},
		{"missing id", with(func(b map[string]any) { delete(b, "id") }), []string{vldRequired}, "/id"},
		{"all at once", with(func(b map[string]any) {
			b["id"] = altOther + "_a b"
			b["rights"] = []any{altRight("nope"), altRight(ResourceMaskinportenSchema)}
			b["accessPackages"] = []any{map[string]any{"urn": PackageNotAssignable}}
			b["allowedRedirectUrls"] = []string{"ftp://x"}
		}), []string{"AUTH.VLD-00001", "AUTH.VLD-00003", "AUTH.VLD-00005", "AUTH.VLD-00008", "AUTH.VLD-00013", "AUTH.VLD-00017"}, pathSystemID},
		{"bad vendor prefix alone, at once", with(func(b map[string]any) {
			b["vendor"] = map[string]any{"authority": "iso6523-actorid-upis", "ID": "9908:" + altOrg}
			b["rights"] = []any{altRight("nope")}
		}), []string{"AUTH.VLD-00000"}, pathVendorID},
	}
	valid := 0
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.body["id"] == altOrg+"_new" {
				c.body["id"] = fmt.Sprintf("%s_case%d", altOrg, i)
			}
			r := e.call("POST", "systemregister/vendor", e.mp(altOrg), c.body)
			if c.codes == nil {
				valid++
				if r.Status != 200 || !altUUIDRe.Match(r.Body) {
					t.Fatalf("got %d %s, want 200 and a JSON-string UUID", r.Status, r.Body)
				}
				var id string
				_ = json.Unmarshal(r.Body, &id)
				if !slices.ContainsFunc(e.s.Systems(), func(s SystemView) bool { return s.InternalID == id && s.ID == c.body["id"] }) {
					t.Fatal("the returned UUID is not the stored system's internal id")
				}
				return
			}
			codes, paths := r.vld(t)
			if !slices.Equal(codes, c.codes) {
				t.Fatalf("codes = %v, want %v; %s", codes, c.codes, r.Body)
			}
			if !slices.Contains(paths[c.codes[0]], c.path) {
				t.Fatalf("paths of %s = %v, want %s", c.codes[0], paths[c.codes[0]], c.path)
			}
		})
	}
	t.Run("403 beats 400", func(t *testing.T) {
		b := altSystemBody(altOrg+"_x y", altOrg) // VLD-00013 too
		b["rights"] = []any{altRight("nope")}
		e.call("POST", "systemregister/vendor", e.mp(altOther), b).empty(t, http.StatusForbidden)
	})
	if n := len(e.s.Systems()); n != valid {
		t.Fatalf("%d systems stored, want %d: refused bodies must store nothing", n, valid)
	}
}

// TestAltinnSystemIdsAndClients: ids are unique forever (VLD-00002, deleted included); client ids are
// unique over live systems (VLD-00004) and freed by delete.
func TestAltinnSystemIdsAndClients(t *testing.T) {
	e := newAltEnv(t)
	tok := e.mp(altOrg)
	post := func(id string) altResp {
		return e.call("POST", "systemregister/vendor", tok, altSystemBody(id, altOrg, altClientID(altOrg)))
	}
	if r := post(altOrg + "_a"); r.Status != 200 {
		t.Fatalf("first: %d %s", r.Status, r.Body)
	}
	if codes, _ := post(altOrg + "_a").vld(t); !slices.Equal(codes, []string{"AUTH.VLD-00002", "AUTH.VLD-00004"}) {
		t.Fatalf("same id and client: %v", codes)
	}
	if codes, paths := post(altOrg + "_b").vld(t); !slices.Equal(codes, []string{"AUTH.VLD-00004"}) || paths["AUTH.VLD-00004"][0] != pathClientID {
		t.Fatalf("client on a live system: %v %v", codes, paths)
	}
	var ok map[string]bool
	e.call("DELETE", "systemregister/vendor/"+altOrg+"_a", tok, nil).json(t, 200, &ok)
	if !ok["succeeded"] {
		t.Fatal("delete did not say succeeded")
	}
	if r := post(altOrg + "_b"); r.Status != 200 {
		t.Fatalf("client freed by delete: %d %s", r.Status, r.Body)
	}
	e.call("DELETE", "systemregister/vendor/"+altOrg+"_b", tok, nil)
	if codes, _ := post(altOrg + "_a").vld(t); !slices.Equal(codes, []string{"AUTH.VLD-00002"}) {
		t.Fatalf("deleted id reused: %v", codes)
	}
	t.Run("delete unknown", func(t *testing.T) {
		r := e.call("DELETE", "systemregister/vendor/"+altOrg+"_nope", tok, nil)
		if r.Status != 400 || !strings.Contains(string(r.Body), `"return":["System not found"]`) {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("delete another vendor's", func(t *testing.T) {
		e.call("POST", "systemregister/vendor", tok, altSystemBody(altOrg+"_c", altOrg))
		e.call("DELETE", "systemregister/vendor/"+altOrg+"_c", e.mp(altOther), nil).empty(t, 403)
	})
}

// TestAltinnSystemShapes: isVisible defaults to true; URLs normalised; GET-one vs list shapes;
// deleted shown by GET-one, hidden in the list; unknown 404 empty, another vendor's 403.
func TestAltinnSystemShapes(t *testing.T) {
	e := newAltEnv(t)
	tok := e.mp(altOrg)
	b := altSystemBody(altSys, altOrg, altClientID(altOrg))
	delete(b, "isVisible")
	b["allowedRedirectUrls"] = []string{"https://X.no", "https://x.no:443/cb?q=1"}
	b["name"] = map[string]any{"nb": "  SAP lokal ", "nn": "SAP lokal", "en": "SAP local"}
	e.call("POST", "systemregister/vendor", tok, b)
	e.call("POST", "systemregister/vendor", tok, altSystemBody(altOrg+"_gone", altOrg))
	e.call("DELETE", "systemregister/vendor/"+altOrg+"_gone", tok, nil)

	var one map[string]any
	e.call("GET", "systemregister/vendor/"+altSys, tok, nil).json(t, 200, &one)
	wantKeys := []string{"accessPackages", "allowedRedirectUrls", "clientId", "description", "id", "isDeleted", "isVisible", "name", "rights", "vendor"}
	if got := altKeys(one); !slices.Equal(got, wantKeys) {
		t.Fatalf("GET-one keys %v, want %v", got, wantKeys)
	}
	if one["isVisible"] != true {
		t.Errorf("isVisible default = %v, want true", one["isVisible"])
	}
	if got, _ := json.Marshal(one["allowedRedirectUrls"]); string(got) != `["https://x.no/","https://x.no/cb?q=1"]` {
		t.Errorf("URLs = %s", got)
	}
	if got, _ := json.Marshal(one["vendor"]); string(got) != `{"ID":"0192:`+altOrg+`"}` {
		t.Errorf("vendor = %s (authority must be dropped)", got)
	}
	if one["name"].(map[string]any)["nb"] != "SAP lokal" {
		t.Errorf("strings not trimmed: %v", one["name"])
	}

	var gone map[string]any
	e.call("GET", "systemregister/vendor/"+altOrg+"_gone", tok, nil).json(t, 200, &gone)
	if gone["isDeleted"] != true {
		t.Errorf("deleted system: isDeleted = %v", gone["isDeleted"])
	}

	var list []map[string]any
	e.call("GET", "systemregister/vendor", tok, nil).json(t, 200, &list)
	if len(list) != 1 || list[0]["systemId"] != altSys {
		t.Fatalf("list = %v, want only %s (deleted hidden)", list, altSys)
	}
	wantList := []string{"accessPackages", "description", "isVisible", "name", "rights", "systemId", "systemVendorOrgName", "systemVendorOrgNumber"}
	if got := altKeys(list[0]); !slices.Equal(got, wantList) {
		t.Fatalf("list keys %v, want %v", got, wantList)
	}
	if list[0]["systemVendorOrgName"] != "Eksempel AS" {
		t.Errorf("systemVendorOrgName = %v", list[0]["systemVendorOrgName"])
	}
	e.call("GET", "systemregister/vendor/"+altOrg+"_nope", tok, nil).empty(t, 404)
	e.call("GET", "systemregister/vendor/"+altSys, e.mp(altOther), nil).empty(t, 403)
	var other []map[string]any
	e.call("GET", "systemregister/vendor", e.mp(altOther), nil).json(t, 200, &other)
	if len(other) != 0 {
		t.Fatalf("another vendor's list shows %v", other)
	}
}

// TestAltinnPutSystem: PUT replaces all (omitted clientId ⇒ empty ⇒ no match), and its refusals.
func TestAltinnPutSystem(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	tok := e.mp(altOrg)
	owner, err := e.s.SeedSystemUser(altSys, altOrg, "")
	altMust(t, err)
	if _, _, ok := e.s.altinn.matchSystemUser(altClientID(altOrg), altOrg, altOrg, ""); !ok {
		t.Fatal("seeded system user does not match before PUT")
	}
	put := func(id string, b map[string]any) altResp { return e.call("PUT", "systemregister/vendor/"+id, tok, b) }

	b := altSystemBody(altSys, altOrg)
	delete(b, "clientId")
	b["rights"] = []any{altRight(ResourceSkatt)}
	b["accessPackages"] = []any{map[string]any{"urn": PackageAssignable}}
	var ok map[string]bool
	put(altSys, b).json(t, 200, &ok)
	if !ok["succeeded"] {
		t.Fatal("no succeeded:true")
	}
	sys := e.s.Systems()[0]
	if len(sys.ClientIDs) != 0 || !slices.Equal(sys.Rights, []string{ResourceSkatt}) || !slices.Equal(sys.AccessPackages, []string{PackageAssignable}) {
		t.Fatalf("not replaced: %+v", sys)
	}
	if _, _, ok := e.s.altinn.matchSystemUser(altClientID(altOrg), altOrg, altOrg, ""); ok {
		t.Fatalf("system user %s still matches after its client id was dropped", owner)
	}

	t.Run("refusals", func(t *testing.T) {
		mismatch := altSystemBody(altSys, altOrg)
		mismatch["vendor"] = map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:" + altOther}
		if r := put(altSys, mismatch); r.Status != 404 || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("vendor mismatch: %d %s", r.Status, r.Body)
		}
		if codes, _ := put(altSys, altSystemBody(altOrg+"_other", altOrg)).vld(t); !slices.Equal(codes, []string{"AUTH.VLD-00012"}) {
			t.Errorf("id mismatch: %v", codes)
		}
		if r := put(altOrg+"_nope", altSystemBody(altOrg+"_nope", altOrg)); r.Status != 404 {
			t.Errorf("unknown: %d", r.Status)
		}
		e.call("PUT", "systemregister/vendor/"+altSys, e.mp(altOther), altSystemBody(altSys, altOther)).empty(t, 403)
		dup := altSystemBody(altSys, altOrg, "c1", "c1")
		if codes, _ := put(altSys, dup).vld(t); !slices.Equal(codes, []string{"AUTH.VLD-00011"}) {
			t.Errorf("duplicate client ids: %v", codes)
		}
		e.call("POST", "systemregister/vendor", tok, altSystemBody(altOrg+"_b", altOrg, "taken"))
		if codes, _ := put(altSys, altSystemBody(altSys, altOrg, "taken")).vld(t); !slices.Equal(codes, []string{"AUTH.VLD-00004"}) {
			t.Errorf("client of another live system: %v", codes)
		}
		e.call("DELETE", "systemregister/vendor/"+altSys, tok, nil)
		if r := put(altSys, altSystemBody(altSys, altOrg)); r.Status != 400 || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("deleted: %d %s", r.Status, r.Body)
		}
	})
}

// TestAltinnStrictMembers: unknown JSON members are refused with their name (strict), e.g. the
// English docs' externalReference.
func TestAltinnStrictMembers(t *testing.T) {
	e := newAltEnv(t)
	e.registerSystem()
	sys := altSystemBody(altOrg+"_x", altOrg)
	sys["externalReference"] = "x"
	req := altRequestBody("")
	req["externalReference"] = "payroll"
	nested := altSystemBody(altOrg+"_y", altOrg)
	nested["rights"] = []any{map[string]any{"resource": []any{map[string]any{"id": "urn:altinn:resource", "value": ResourceExample, "type": "x"}}}}
	cases := []struct {
		name, path string
		body       any
		member     string
	}{
		{"system", "systemregister/vendor", sys, "externalReference"},
		{"nested", "systemregister/vendor", nested, "type"},
		{"request", "systemuser/request/vendor", req, "externalReference"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call("POST", c.path, e.mp(altOrg), c.body)
			codes, _ := r.vld(t)
			if !slices.Equal(codes, []string{vldUnknownMember}) || !strings.Contains(string(r.Body), c.member) {
				t.Fatalf("got %v %s", codes, r.Body)
			}
		})
	}
	t.Run("bad json", func(t *testing.T) {
		codes, _ := e.call("POST", "systemregister/vendor", e.mp(altOrg), `{"id":`).vld(t)
		if !slices.Equal(codes, []string{vldBadJSON}) {
			t.Fatalf("got %v", codes)
		}
	})
	t.Run("case-insensitive binding", func(t *testing.T) {
		b := altSystemBody(altOrg+"_case", altOrg)
		delete(b, "clientId")
		b["ClientID"] = []string{"case-client"}
		b["ISVISIBLE"] = false
		if r := e.call("POST", "systemregister/vendor", e.mp(altOrg), b); r.Status != 200 {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		if got := e.s.Systems(); !slices.ContainsFunc(got, func(s SystemView) bool {
			return s.ID == altOrg+"_case" && slices.Equal(s.ClientIDs, []string{"case-client"}) && !s.IsVisible
		}) {
			t.Fatalf("members bound case-sensitively: %+v", got)
		}
	})
}

func altKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
