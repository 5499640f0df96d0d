package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const (
	exampleID     = "310000001_sap-local"
	exampleClient = "5f1c0d9e-0000-4000-8000-000000000001"
)

// exampleSystem is examples/altinn/system-create.json as a System.
func exampleSystem() System {
	return System{
		ID: exampleID, VendorOrg: "310000001",
		Name: Texts{"nb": "SAP lokal", "nn": "SAP lokal", "en": "SAP local"},
		Description: Texts{"nb": "Eget system hos Eksempel AS", "nn": "Eige system hos Eksempel AS",
			"en": "In-house system of Eksempel AS"},
		Rights:    []Right{ResourceRight("example-resource", "")},
		ClientIDs: []string{exampleClient},
	}
}

// liveReply is what GET /vendor/{id} would answer for s.
func liveReply(s System, mutate func(m map[string]any)) map[string]any {
	m := map[string]any{
		"id": s.ID, "vendor": map[string]any{"ID": "0192:" + s.VendorOrg}, "name": s.Name, "description": s.Description,
		"rights": s.Rights, "accessPackages": []any{}, "isDeleted": false, "clientId": s.ClientIDs,
		"isVisible": false, "allowedRedirectUrls": s.AllowedRedirectURLs,
	}
	if mutate != nil {
		mutate(m)
	}
	return m
}

func TestEnsureSystem(t *testing.T) {
	sysPath := "systemregister/vendor/" + exampleID
	taken := `{"type":"urn:altinn:error:STD-00000","title":"One or more validation errors occurred.","status":400,` +
		`"code":"STD-00000","validationErrors":[{"code":"AUTH.VLD-00002","title":"The system id already exists",` +
		`"paths":["/registersystemrequest/systemid"]}]}`
	tests := []struct {
		name    string
		want    func(s *System)
		get     http.HandlerFunc
		post    http.HandlerFunc // second GET after POST uses get2
		get2    http.HandlerFunc
		outcome Outcome
		changed []string
		calls   []string
		errIs   error
		errText string
	}{
		{name: "unchanged: GET only, never POST", get: reply(200, liveReply(exampleSystem(), nil)),
			outcome: Unchanged, calls: []string{"GET"}},
		{name: "unchanged with Altinn's normalised URL and reordered, padded lists",
			want: func(s *System) {
				s.AllowedRedirectURLs = []string{"https://x.no"}
				s.Rights = append(s.Rights, ResourceRight("other", "read"))
			},
			get: reply(200, liveReply(exampleSystem(), func(m map[string]any) {
				m["allowedRedirectUrls"] = []string{"HTTPS://X.NO/"}
				m["rights"] = []Right{ResourceRight("other", "read"), ResourceRight(" example-resource", "")}
				m["name"] = Texts{"nb": "SAP lokal ", "nn": "SAP lokal", "en": "SAP local", "de": ""}
			})),
			outcome: Unchanged, calls: []string{"GET"}},
		{name: "rights differ: full PUT", want: func(s *System) { s.Rights = append(s.Rights, ResourceRight("new", "")) },
			get: reply(200, liveReply(exampleSystem(), nil)), outcome: Updated, changed: []string{"rights"},
			calls: []string{"GET", "PUT"}},
		{name: "client id dropped upstream: PUT puts ours back",
			get:     reply(200, liveReply(exampleSystem(), func(m map[string]any) { m["clientId"] = []string{} })),
			outcome: Updated, changed: []string{"clientId"}, calls: []string{"GET", "PUT"}},
		{name: "visible upstream: PUT makes it invisible",
			get:     reply(200, liveReply(exampleSystem(), func(m map[string]any) { m["isVisible"] = true })),
			outcome: Updated, changed: []string{"isVisible"}, calls: []string{"GET", "PUT"}},
		{name: "unknown: GET 404 then POST", get: reply(404, nil),
			post:    reply(200, `"0d5f9a1e-0000-4000-8000-0000000000aa"`),
			outcome: Created, calls: []string{"GET", "POST"}},
		{name: "lost POST reply: id taken, second GET finds it", get: reply(404, nil),
			post: reply(400, taken),
			get2: reply(200, liveReply(exampleSystem(), nil)), outcome: Unchanged, calls: []string{"GET", "POST", "GET"}},
		{name: "deleted: burnt id", get: reply(200, liveReply(exampleSystem(), func(m map[string]any) { m["isDeleted"] = true })),
			errIs: ErrSystemDeleted, errText: "choose a new system.id", calls: []string{"GET"}},
		{name: "another vendor's system: 403", get: reply(403, nil), errText: "systemregister.write", calls: []string{"GET"}},
		{name: "POST validation error kept", get: reply(404, nil), post: reply(400, testdata(t, "problem-validation.json")),
			errText: "AUTH.VLD-00004", calls: []string{"GET", "POST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gets := 0
			f := newFake(t).on("GET", sysPath, func(w http.ResponseWriter, r *http.Request) {
				gets++
				if gets == 2 && tt.get2 != nil {
					tt.get2(w, r)
					return
				}
				tt.get(w, r)
			})
			if tt.post != nil {
				f.on("POST", "systemregister/vendor", tt.post)
			}
			f.on("PUT", sysPath, reply(200, map[string]bool{"succeeded": true}))
			c, _ := f.client()
			want := exampleSystem()
			if tt.want != nil {
				tt.want(&want)
			}
			res, err := c.EnsureSystem(context.Background(), want)
			if !slices.Equal(f.methods(), tt.calls) {
				t.Errorf("calls %v, want %v", f.methods(), tt.calls)
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("error %v is not %v", err, tt.errIs)
			}
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %v, want one containing %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.outcome || !slices.Equal(res.Changed, tt.changed) {
				t.Errorf("result %+v, want %s %v", res, tt.outcome, tt.changed)
			}
			for _, m := range []string{"POST", "PUT"} {
				if !slices.Contains(tt.calls, m) {
					continue
				}
				b := f.last(m).Body
				var got map[string]any
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				if got["isVisible"] != false || !slices.Equal(anyStrings(got["clientId"]), want.ClientIDs) {
					t.Errorf("%s body must carry isVisible:false and our client id: %s", m, b)
				}
				if tt.outcome == Created {
					sameJSON(t, b, testdata(t, "system-create.json"))
					if res.InternalID != "0d5f9a1e-0000-4000-8000-0000000000aa" {
						t.Errorf("internal id %q", res.InternalID)
					}
				}
			}
		})
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestEnsureSystemRefusesLocally checks that a system Altinn would refuse (or that would never get a
// token) fails before any call.
func TestEnsureSystemRefusesLocally(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*System)
		want   string
	}{
		{"no client id", func(s *System) { s.ClientIDs = nil }, "maskinporten.client_id"},
		{"id of another org", func(s *System) { s.ID = "999999999_x" }, "fix system.id"},
		{"id with space", func(s *System) { s.ID = "310000001_a b" }, "fix system.id"},
		{"bad org", func(s *System) { s.VendorOrg = "31000000" }, "fix organization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c, _ := f.client()
			s := exampleSystem()
			tt.mutate(&s)
			_, err := c.EnsureSystem(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if len(f.methods()) != 0 {
				t.Errorf("made calls %v", f.methods())
			}
		})
	}
}

func TestGetSystemDecodes(t *testing.T) {
	f := newFake(t).on("GET", "systemregister/vendor/"+exampleID, reply(200, liveReply(exampleSystem(), func(m map[string]any) {
		m["accessPackages"] = []map[string]string{{"urn": "urn:altinn:accesspackage:skattegrunnlag"}}
		m["isVisible"] = true
	})))
	c, _ := f.client()
	s, err := c.GetSystem(context.Background(), exampleID)
	if err != nil {
		t.Fatal(err)
	}
	if s.VendorOrg != "310000001" || s.Name["nb"] != "SAP lokal" || !s.IsVisible ||
		!slices.Equal(s.AccessPackages, AccessPackages{"urn:altinn:accesspackage:skattegrunnlag"}) ||
		len(s.Rights) != 1 || s.Rights[0].Resource[0].Value != "example-resource" {
		t.Errorf("decoded %+v", s)
	}
}
