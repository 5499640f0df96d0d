package tokens

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUpstreamErrorsAreTypedWithHints(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		code      string
		mp        string
		temporary bool
		retry     time.Duration
		message   string // Error() must contain it
		hint      string // Hint() must contain it
	}{
		{"MP-303 no system user", oauthError(400, "invalid_altinn_customer_configuration", "MP-303 no match (id abc)"),
			"invalid_altinn_customer_configuration", "MP-303", false, 0,
			"maskinporten token: invalid_altinn_customer_configuration (MP-303): MP-303 no match (id abc) — ", "agent request status"},
		{"MP-100 client", oauthError(400, "invalid_grant", "MP-100 client not found"), "invalid_grant", "MP-100", false, 0,
			"invalid_grant (MP-100)", "environment"},
		{"MP-110 aud", oauthError(400, "invalid_grant", "MP-110 Invalid JWT claim aud"), "invalid_grant", "MP-110", false, 0,
			"(MP-110)", "trailing slash"},
		{"MP-121 expired key", oauthError(400, "invalid_grant", "MP-121 Expired key"), "invalid_grant", "MP-121", false, 0,
			"(MP-121)", "agent keys public"},
		{"MP-124 unknown kid", oauthError(400, "invalid_grant", "MP-124 kid"), "invalid_grant", "MP-124", false, 0,
			"(MP-124)", "register"},
		{"MP-200 scope", oauthError(400, "invalid_scope", "MP-200 scope"), "invalid_scope", "MP-200", false, 0,
			"(MP-200)", "not registered on the Maskinporten client"},
		{"MP-250 not granted", oauthError(403, "access_denied", "MP-250 forbidden"), "access_denied", "MP-250", false, 0,
			"(MP-250)", "API owner"},
		{"503 with Retry-After", oauthError(503, "temporarily_unavailable", "", "Retry-After", "9"),
			"temporarily_unavailable", "", true, 9 * time.Second, "retry after 9s", "try again later"},
		{"HTML 502", status(502, "<html><body>Bad gateway\n"+strings.Repeat("z", 400)+"</body></html>"),
			"", "", true, 0, "maskinporten token: HTTP 502: <html><body>Bad gateway zzz", "try again later"},
		{"empty 401", status(401, ""), "", "", false, 0, "maskinporten token: HTTP 401", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			f.setAlways(tt.reply)
			_, err := testClient(t, f, func(o *ClientOptions) { o.Retry.Max = -1 }).Token(context.Background(), sysReq)
			wrapped := fmt.Errorf("agent: %w", err)
			var e *Error
			if !errors.As(wrapped, &e) {
				t.Fatalf("errors.As(%v) failed", err)
			}
			if e.Op != "maskinporten token" || e.Code != tt.code || e.MPCode != tt.mp || e.Temporary != tt.temporary ||
				e.RetryAfter != tt.retry {
				t.Errorf("Error = %+v", *e)
			}
			if !strings.Contains(e.Error(), tt.message) {
				t.Errorf("Error() = %q, want it to contain %q", e.Error(), tt.message)
			}
			if !strings.Contains(e.Hint(), tt.hint) || (tt.hint != "" && !strings.HasSuffix(e.Error(), e.Hint())) {
				t.Errorf("Hint() = %q, want %q at the end of Error()", e.Hint(), tt.hint)
			}
			if len(e.Description) > maxDescription {
				t.Errorf("Description is %d bytes", len(e.Description))
			}
		})
	}
}

func TestNonJSONBodyCutTo200Bytes(t *testing.T) {
	resp := &http.Response{StatusCode: 502, Header: http.Header{}}
	e := newHTTPError(opToken, resp, []byte(strings.Repeat("é", 300)), time.Now())
	if len(e.Description) > 200 || !strings.HasPrefix(e.Description, "éé") || strings.ContainsRune(e.Description, '\uFFFD') {
		t.Errorf("Description = %d bytes %q", len(e.Description), e.Description)
	}
}

func TestNetworkErrorIsTemporary(t *testing.T) {
	f := newFakeMP(t, time.Now)
	url := f.tokenURL()
	f.srv.Close() // nothing listens any more
	c := testClient(t, f, func(o *ClientOptions) { o.TokenURL = url })
	_, err := c.Token(context.Background(), sysReq)
	e := AsError(err)
	if e == nil || !e.Temporary || e.StatusCode != 0 || e.Err == nil || !strings.Contains(e.Error(), "could not be reached") {
		t.Fatalf("error = %v", err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"5", 5 * time.Second, true},
		{" 0 ", 0, true},
		{"-3", 0, false},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := retryAfter(http.Header{"Retry-After": {tt.value}}, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestBackoffIsBoundedWithJitter(t *testing.T) {
	a := &call{c: &Client{now: time.Now}}
	seen := map[time.Duration]bool{}
	for n := range 40 {
		d := a.backoff(100*time.Millisecond, 2*time.Second, n, nil)
		hi := min(100*time.Millisecond<<min(n, 20), 2*time.Second)
		if d < hi/2 || d > hi {
			t.Fatalf("attempt %d: backoff %s outside [%s, %s]", n, d, hi/2, hi)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("backoff has no jitter: %d distinct waits in 40", len(seen))
	}
}
