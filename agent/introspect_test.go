package agent

import (
	"net/url"
	"testing"
	"time"
)

// testSystemID and testSystemUserID are what onboarding learned: the system and the accepted system user
// "default" ("second" has no id yet).
const (
	testSystemID     = testOrg + "_local"
	testSystemUserID = "7b1c4e2a-5d3f-4a6b-9c8d-0e1f2a3b4c5d"
)

func TestIntrospectOwnTokensOnly(t *testing.T) {
	a := startAgent(t, func(o *Options) {
		o.Config.System.ID = testSystemID
		o.SystemUserID = func(name string) string {
			if name == "default" {
				return testSystemUserID
			}
			return ""
		}
	})
	tokA := a.tokenFor(t, idA, secretA, nil).str("access_token")
	tokB := a.tokenFor(t, idB, secretB, nil).str("access_token")
	if tokA == "" || tokB == "" {
		t.Fatal("no tokens served")
	}
	introspect := func(id, secret, tok string) reply {
		return a.do(t, req{path: "/oauth2/introspect", form: url.Values{"token": {tok}}, user: id, pass: secret})
	}
	r := introspect(idA, secretA, tokA)
	want := map[string]any{"active": true, "client_id": idA, "scope": "test:a1 test:a2", "token_type": "Bearer",
		"systemuser_org": "0192:" + testOrg, "system_user": "default", "token_kind": "maskinporten",
		"systemuser_id": testSystemUserID, "system_id": testSystemID,
		"exp": float64(a.clock.Now().Add(120 * time.Second).Unix())}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("own token: %s = %v, want %v", k, r.body[k], v)
		}
	}
	if r := introspect(idB, secretB, tokB); r.body["active"] != true || r.str("external_ref") != "ext-2" ||
		r.str("system_id") != testSystemID {
		t.Errorf("B's own token: %v", r.body)
	} else if _, ok := r.body["systemuser_id"]; ok {
		t.Errorf("B's system user has no id yet, but introspection reports one: %v", r.body)
	}
	inactive := []struct {
		name, id, secret, tok string
	}{
		{"another caller's token", idA, secretA, tokB},
		{"A's token asked by B", idB, secretB, tokA},
		{"unknown token", idA, secretA, "eyJnot-served"},
	}
	for _, tc := range inactive {
		r := introspect(tc.id, tc.secret, tc.tok)
		if r.status != 200 || len(r.body) != 1 || r.body["active"] != false {
			t.Errorf("%s: got %d %v, want {\"active\":false}", tc.name, r.status, r.body)
		}
	}
	if r := introspect(idA, "wrong", tokA); r.status != 401 {
		t.Errorf("wrong secret: got %v, want 401", r)
	}
	if r := a.do(t, req{path: "/oauth2/introspect", form: url.Values{}, user: idA, pass: secretA}); r.status != 400 {
		t.Errorf("no token: got %v, want 400", r)
	}
	a.clock.Advance(121 * time.Second)
	if r := introspect(idA, secretA, tokA); r.body["active"] != false {
		t.Errorf("expired token: %v", r.body)
	}
}

func TestIntrospectSharedTokenAndBound(t *testing.T) {
	clock := newFakeClock()
	st := newIssuedStore(2)
	now := clock.Now()
	st.add("t1", idA, issued{exp: now.Add(time.Minute)}, now)
	st.add("t1", idB, issued{exp: now.Add(time.Minute)}, now) // the cache shared one token
	for _, id := range []string{idA, idB} {
		if _, ok := st.lookup("t1", id, now); !ok {
			t.Errorf("shared token not active for %s", id)
		}
	}
	st.add("t2", idA, issued{exp: now.Add(2 * time.Minute)}, now)
	st.add("t3", idA, issued{exp: now.Add(3 * time.Minute)}, now) // full: drops t1, expiring first
	if len(st.m) != 2 {
		t.Fatalf("store holds %d entries, want 2", len(st.m))
	}
	if _, ok := st.lookup("t1", idA, now); ok {
		t.Error("t1 should have been dropped")
	}
	if _, ok := st.lookup("t3", idA, now); !ok {
		t.Error("t3 missing")
	}
}
