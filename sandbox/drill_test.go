package sandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSandboxDrillAPIRefusals: the drill API answers loopback callers only, refuses browsers, and
// rejects faults that are malformed or do nothing.
func TestSandboxDrillAPIRefusals(t *testing.T) {
	h := drillAPI(nil) // every case is refused before the sandbox is touched
	for _, tc := range []struct {
		name, method, path, remote, origin, body string
		want                                     int
	}{
		{"remote caller", "GET", "/sandbox/stats", "192.0.2.7:4000", "", "", http.StatusForbidden},
		{"browser", "POST", "/sandbox/faults", "127.0.0.1:4000", "http://evil.example", `{"status":503}`, http.StatusForbidden},
		{"not JSON", "POST", "/sandbox/faults", "127.0.0.1:4000", "", "status=503", http.StatusBadRequest},
		{"unknown field", "POST", "/sandbox/faults", "127.0.0.1:4000", "", `{"stat":503}`, http.StatusBadRequest},
		{"unknown target", "POST", "/sandbox/faults", "[::1]:4000", "", `{"target":"x","status":503}`, http.StatusBadRequest},
		{"bad status", "POST", "/sandbox/faults", "127.0.0.1:4000", "", `{"status":42}`, http.StatusBadRequest},
		{"bad delay", "POST", "/sandbox/faults", "127.0.0.1:4000", "", `{"delay":"soon"}`, http.StatusBadRequest},
		{"does nothing", "POST", "/sandbox/faults", "127.0.0.1:4000", "", `{"times":2}`, http.StatusBadRequest},
		{"negative times", "POST", "/sandbox/faults", "127.0.0.1:4000", "", `{"status":503,"times":-1}`, http.StatusBadRequest},
		{"wrong method", "PUT", "/sandbox/stats", "127.0.0.1:4000", "", "", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			r.RemoteAddr = tc.remote
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("%s %s from %s: %d, want %d (%s)", tc.method, tc.path, tc.remote, w.Code, tc.want, w.Body.String())
			}
		})
	}
}
