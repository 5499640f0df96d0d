package registry

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestParseProblemShapes(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		code      string
		title     string
		valCodes  []string
		valPaths  []string
		hint      string // substring of Hint()
		notFound  bool
		errSubstr []string
	}{
		{name: "v5 validation (example)", status: 400, body: string(testdata(t, "problem-validation.json")),
			code: "STD-00000", title: "One or more validation errors occurred.",
			valCodes: []string{"AUTH.VLD-00001", "AUTH.VLD-00004"},
			valPaths: []string{"/registersystemrequest/systemid", "/registersystemrequest/clientid"},
			hint:     "fix system.id",
			errSubstr: []string{"AUTH.VLD-00001", "AUTH.VLD-00004", "already on another live system",
				"traceId 00-00000000000000000000000000000001"}},
		{name: "v5 request problem (example)", status: 400, body: string(testdata(t, "problem-request.json")),
			code: "AUTH-00004", title: "Failed to create new SystemUser, existing SystemUser tied to the given System-Id.",
			hint: "do not request a new one", errSubstr: []string{"AUTH-00004", "HTTP 400"}},
		{name: "v4 detail", status: 404,
			body: `{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.5","title":"","status":404,"detail":"The Id does not refer to a Registered System.","code":"AUTH-00011"}`,
			code: "AUTH-00011", title: "The Id does not refer to a Registered System.", hint: "agent system register"},
		{name: "v4 generic title with detail", status: 400,
			body:  `{"title":"Bad Request","detail":"System not found","status":400}`,
			title: "Bad Request", errSubstr: []string{"System not found"}},
		{name: "code only in type", status: 404, body: `{"type":"urn:altinn:error:AUTH-00010","title":"Request not found","status":404}`,
			code: "AUTH-00010", title: "Request not found", notFound: true, hint: "agent request create"},
		{name: "ASP.NET errors object", status: 400,
			body:     `{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"errors":{"return":["System not found"],"$.rights":["The JSON value could not be converted.","second"]},"traceId":"00-ab-01"}`,
			title:    "One or more validation errors occurred.",
			valCodes: []string{"", "", ""}, valPaths: []string{"$.rights", "$.rights", "return"},
			errSubstr: []string{"System not found", "at $.rights", "traceId 00-ab-01"}},
		{name: "plain string", status: 400, body: `System not found`, title: "System not found"},
		{name: "JSON string", status: 409, body: `"A system with this id is being created"`,
			title: "A system with this id is being created", hint: "run the command again"},
		{name: "HTML", status: 502, body: "<html><body>Bad gateway</body></html>",
			title: "<html><body>Bad gateway</body></html>", hint: "Altinn is having trouble"},
		{name: "empty 401", status: 401, hint: "did not accept the organisation's Maskinporten token"},
		{name: "empty 403 names the scope", status: 403, hint: "lacks scope altinn:authentication/systemregister.write"},
		{name: "empty 404", status: 404, notFound: true},
		{name: "404 AUTH-00011 is not ErrNotFound", status: 404, body: `{"code":"AUTH-00011","title":"x","status":404}`,
			code: "AUTH-00011", title: "x", hint: "belongs to another vendor"},
		{name: "429", status: 429, hint: "limiting the request rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseProblem("do a thing", ScopeSystemRegisterWrite, tt.status, []byte(tt.body))
			if e.Status != tt.status || e.Code != tt.code || e.Title != tt.title {
				t.Errorf("got status %d code %q title %q; want %d %q %q", e.Status, e.Code, e.Title, tt.status, tt.code, tt.title)
			}
			var codes, paths []string
			for _, v := range e.Validation {
				codes = append(codes, v.Code)
				paths = append(paths, v.Paths...)
			}
			if !slices.Equal(codes, tt.valCodes) || !slices.Equal(paths, tt.valPaths) {
				t.Errorf("validation codes %q paths %q; want %q %q", codes, paths, tt.valCodes, tt.valPaths)
			}
			if tt.hint != "" && !strings.Contains(e.Hint(), tt.hint) {
				t.Errorf("hint %q lacks %q", e.Hint(), tt.hint)
			}
			if got := errors.Is(e, ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v", got, tt.notFound)
			}
			msg := e.Error()
			for _, s := range append(tt.errSubstr, "do a thing", e.Code) {
				if !strings.Contains(msg, s) {
					t.Errorf("Error() %q lacks %q", msg, s)
				}
			}
		})
	}
}

func TestHintPerCode(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   string
	}{
		{400, "AUTH.VLD-00004", "client id is already on another live system"},
		{400, "AUTH.VLD-00002", "taken for ever"},
		{400, "AUTH.VLD-00001", "<organisation number>_<name>"},
		{400, "AUTH.VLD-00003", "resource Altinn does not know"},
		{400, "AUTH.VLD-00017", "cannot be delegated"},
		{400, "AUTH-00001", "re-run `agent system register`"},
		{400, "AUTH-00004", "sends a change request"},
		{404, "AUTH-00011", "belongs to another vendor"},
		{409, "AUTH-00013", "already answered"},
		{400, "AUTH-00000", "not in Altinn's Register"},
		{401, "", "Maskinporten token"},
		{403, "", "lacks scope altinn:authentication/systemuser.request.write"},
	}
	for _, tt := range tests {
		t.Run(tt.code+"/"+http.StatusText(tt.status), func(t *testing.T) {
			e := &ProblemError{Op: "op", Status: tt.status, Scope: ScopeRequestWrite}
			if strings.Contains(tt.code, "VLD") {
				e.Code = "STD-00000"
				e.Validation = []ValidationError{{Code: tt.code, Title: "t"}}
			} else {
				e.Code = tt.code
			}
			if !strings.Contains(e.Error(), tt.want) {
				t.Errorf("Error() = %q, want it to contain %q", e.Error(), tt.want)
			}
			if tt.code != "" && !e.Has(strings.TrimPrefix(tt.code, "AUTH.")) {
				t.Errorf("Has(%q) = false", tt.code)
			}
		})
	}
}

// TestForbiddenNamesScopeOfEndpoint checks that each endpoint's 403 hint names the scope that endpoint needs.
func TestForbiddenNamesScopeOfEndpoint(t *testing.T) {
	f := newFake(t).
		on("GET", "systemregister/vendor/310000001_x", reply(403, nil)).
		on("GET", "systemuser/request/vendor/abc", reply(403, nil)).
		on("GET", "systemuser/vendor/byquery", reply(403, nil)).
		on("DELETE", "systemuser/request/vendor/abc", reply(403, nil))
	c, _ := f.client()
	ctx := context.Background()
	_, e1 := c.GetSystem(ctx, "310000001_x")
	_, e2 := c.GetRequest(ctx, "abc")
	_, e3 := c.SystemUserByQuery(ctx, "310000001_x", "310000001", "")
	e4 := c.DeleteRequest(ctx, "abc")
	for i, tc := range []struct {
		err   error
		scope string
	}{{e1, ScopeSystemRegisterWrite}, {e2, ScopeRequestRead}, {e3, ScopeRequestWrite}, {e4, ScopeRequestWrite}} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), "lacks scope "+tc.scope) {
			t.Errorf("call %d: error %v does not name scope %s", i, tc.err, tc.scope)
		}
	}
}
