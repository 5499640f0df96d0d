package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestCreateRequest(t *testing.T) {
	example := CreateRequest{SystemID: exampleID, PartyOrgNo: "310000001", ExternalRef: "payroll",
		Rights: []Right{ResourceRight("example-resource", "")}}
	tests := []struct {
		name     string
		req      CreateRequest
		status   int
		created  bool
		wantBody []byte // exact JSON, when set
		noRef    bool
	}{
		{name: "new: 201 (example body)", req: example, status: 201, created: true, wantBody: testdata(t, "request-create.json")},
		{name: "existing: 200", req: example, status: 200, created: false},
		{name: "no externalRef: member omitted", req: func() CreateRequest { r := example; r.ExternalRef = ""; return r }(),
			status: 201, created: true, noRef: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t).on("POST", "systemuser/request/vendor", reply(tt.status, testdata(t, "request-response.json")))
			c, _ := f.client()
			r, created, err := c.CreateRequest(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if created != tt.created {
				t.Errorf("created = %v, want %v", created, tt.created)
			}
			if r.ID != "2b0e7c1a-0000-4000-8000-00000000000a" || !r.Is("new") || r.Final() || r.ConfirmURL == "" ||
				r.ExternalRef != "payroll" || r.TimedOut {
				t.Errorf("decoded %+v", r)
			}
			b := f.last("POST").Body
			if tt.wantBody != nil {
				sameJSON(t, b, tt.wantBody)
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			if _, ok := m["externalReference"]; ok {
				t.Errorf("sent externalReference: %s", b)
			}
			if _, ok := m["externalRef"]; ok == tt.noRef {
				t.Errorf("externalRef present = %v, want %v: %s", ok, !tt.noRef, b)
			}
			if bytes.Contains(b, []byte(`"externalRef":""`)) {
				t.Errorf(`sent externalRef:"": %s`, b)
			}
		})
	}
}

func TestCreateRequestRefusesBadRef(t *testing.T) {
	f := newFake(t)
	c, _ := f.client()
	for _, ref := range []string{"a/b", "pay roll", "..", "ø"} {
		_, _, err := c.CreateRequest(context.Background(), CreateRequest{SystemID: exampleID, PartyOrgNo: "310000001", ExternalRef: ref})
		if err == nil || !strings.Contains(err.Error(), "external_ref") {
			t.Errorf("ref %q: error %v", ref, err)
		}
	}
	if len(f.methods()) != 0 {
		t.Errorf("made calls %v", f.methods())
	}
}

func TestGetRequestByExternalRefPath(t *testing.T) {
	tests := []struct{ ref, last string }{{"payroll", "payroll"}, {"", "310000001"}}
	for _, tt := range tests {
		f := newFake(t).on("GET", "systemuser/request/vendor/byexternalref/"+exampleID+"/310000001/"+tt.last,
			reply(200, testdata(t, "request-response.json")))
		c, _ := f.client()
		r, err := c.GetRequestByExternalRef(context.Background(), exampleID, "310000001", tt.ref)
		if err != nil || r.ID == "" {
			t.Errorf("ref %q: %v %+v", tt.ref, err, r)
		}
	}
	f := newFake(t).on("GET", "systemuser/request/vendor/byexternalref/"+exampleID+"/310000001/x",
		reply(404, `{"code":"AUTH-00010","title":"not found","status":404}`))
	c, _ := f.client()
	if _, err := c.GetRequestByExternalRef(context.Background(), exampleID, "310000001", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("AUTH-00010: %v, want ErrNotFound", err)
	}
}

func TestSystemUserByQuery(t *testing.T) {
	tests := []struct {
		name, ref, query string
		status           int
		body             string
		notFound         bool
	}{
		{"found", "payroll", "external-ref=payroll&orgno=310000001&system-id=" + exampleID, 200, string(testdata(t, "systemuser-byquery.json")), false},
		{"no ref: parameter omitted", "", "orgno=310000001&system-id=" + exampleID, 200, string(testdata(t, "systemuser-byquery.json")), false},
		{"404 empty", "payroll", "external-ref=payroll&orgno=310000001&system-id=" + exampleID, 404, "", true},
		{"deleted", "", "orgno=310000001&system-id=" + exampleID, 200, `{"id":"x","isDeleted":true}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t).on("GET", "systemuser/vendor/byquery", reply(tt.status, tt.body))
			c, _ := f.client()
			su, err := c.SystemUserByQuery(context.Background(), exampleID, "310000001", tt.ref)
			if got := f.last("GET").Query; got != tt.query {
				t.Errorf("query %q, want %q", got, tt.query)
			}
			if tt.notFound {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("error %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil || su.ID != "2b0e7c1a-0000-4000-8000-00000000000a" || su.UserType != "standard" || su.SupplierOrgNo != "310000001" {
				t.Errorf("%v %+v", err, su)
			}
		})
	}
}

func TestDeleteRequest(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		ok     bool
	}{{202, "", true}, {404, `{"code":"AUTH-00010","status":404,"title":"gone"}`, true}, {400, "not a uuid", false}} {
		f := newFake(t).on("DELETE", "systemuser/request/vendor/abc", reply(tt.status, tt.body))
		c, _ := f.client()
		if err := c.DeleteRequest(context.Background(), "abc"); (err == nil) != tt.ok {
			t.Errorf("status %d: error %v", tt.status, err)
		}
	}
}

// TestOwnToken checks every call carries the registry's own token: all three scopes, no system user.
func TestOwnToken(t *testing.T) {
	f := newFake(t).on("GET", "systemuser/request/vendor/abc", reply(200, testdata(t, "request-response.json")))
	c, ft := f.client()
	if _, err := c.GetRequest(context.Background(), "abc"); err != nil {
		t.Fatal(err)
	}
	if got := f.last("GET").Auth; got != "Bearer "+secretToken {
		t.Errorf("Authorization %q", got)
	}
	if len(ft.reqs) != 1 || ft.reqs[0].Org != "" || ft.reqs[0].ExternalRef != "" ||
		!slices.Equal(ft.reqs[0].Normalize().Scopes, Scopes()) {
		t.Errorf("token requests %+v", ft.reqs)
	}
	ft.err = errors.New("MP-100 client not found")
	_, err := c.GetRequest(context.Background(), "abc")
	if err == nil || !strings.Contains(err.Error(), "MP-100") || len(f.methods()) != 1 {
		t.Errorf("token failure: %v (calls %v)", err, f.methods())
	}
}

func TestRetriesTransientFailures(t *testing.T) {
	n := 0
	f := newFake(t).on("GET", "systemuser/request/vendor/abc", func(w http.ResponseWriter, r *http.Request) {
		n++
		if n < 3 {
			reply(503, `{"title":"busy","status":503}`)(w, r)
			return
		}
		reply(200, testdata(t, "request-response.json"))(w, r)
	})
	c, _ := f.client()
	if _, err := c.GetRequest(context.Background(), "abc"); err != nil || n != 3 {
		t.Fatalf("err %v after %d attempts", err, n)
	}
	n = -10 // always failing now
	_, err := c.GetRequest(context.Background(), "abc")
	var pe *ProblemError
	if !errors.As(err, &pe) || pe.Status != 503 || pe.Title != "busy" {
		t.Errorf("after retries: %v", err)
	}
	if n != -6 { // 1 + RetryMax(3) attempts
		t.Errorf("attempts: %d, want 4", n+10)
	}
	// 4xx is not retried.
	m := 0
	f.on("GET", "systemuser/request/vendor/def", func(w http.ResponseWriter, r *http.Request) { m++; reply(400, "bad")(w, r) })
	if _, err := c.GetRequest(context.Background(), "def"); err == nil || m != 1 {
		t.Errorf("400: %v after %d attempts", err, m)
	}
}

func TestReplyLimitedTo1MiB(t *testing.T) {
	big := append([]byte(`{"id":"`), bytes.Repeat([]byte("a"), maxBody)...)
	big = append(big, `"}`...)
	f := newFake(t).on("GET", "systemuser/request/vendor/abc", reply(200, big))
	c, _ := f.client()
	if _, err := c.GetRequest(context.Background(), "abc"); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Errorf("error %v", err)
	}
}

// TestTokenNeverLeaks: a server that echoes the Authorization header in its error body, and debug logs,
// never show the token.
func TestTokenNeverLeaks(t *testing.T) {
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			reply(status, `{"title":"bad token `+r.Header.Get("Authorization")+`","status":400,"detail":"`+
				strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+`"}`)(w, r)
		}
	}
	f := newFake(t).on("GET", "systemuser/request/vendor/abc", echo(400)).on("POST", "systemregister/vendor", echo(500)).
		on("GET", "systemregister/vendor/"+exampleID, reply(404, nil)).
		on("DELETE", "systemuser/request/vendor/abc", func(w http.ResponseWriter, r *http.Request) {
			reply(401, r.Header.Get("Authorization"))(w, r)
		})
	c, _ := f.client()
	var logs bytes.Buffer
	c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, e1 := c.GetRequest(context.Background(), "abc")
	_, e2 := c.EnsureSystem(context.Background(), exampleSystem())
	e3 := c.DeleteRequest(context.Background(), "abc")
	for i, err := range []error{e1, e2, e3} {
		if err == nil {
			t.Fatalf("call %d: no error", i)
		}
		if strings.Contains(err.Error(), secretToken) || strings.Contains(err.Error(), "c2VjcmV0LXBheWxvYWQ") {
			t.Errorf("call %d: error leaks the token: %v", i, err)
		}
		if !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("call %d: error %v should show where the token was", i, err)
		}
	}
	if logs.Len() == 0 || strings.Contains(logs.String(), "c2VjcmV0LXBheWxvYWQ") {
		t.Errorf("logs leak the token or are empty: %s", logs.String())
	}
}
