package agent

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWriteTokenResponse: the hot-path token reply (servedReply) is byte for byte what writeJSON
// (encoding/json) writes, for plain values and for values that need escaping (which take writeJSON itself).
func TestWriteTokenResponse(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   tokenResponse
	}{
		{"jwt", tokenResponse{AccessToken: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_", TokenType: "Bearer", ExpiresIn: 119,
			Scope: "altinn:demo/read skatteetaten:mva"}},
		{"empty scope", tokenResponse{AccessToken: "abc", TokenType: "Bearer", ExpiresIn: 1}},
		{"quote", tokenResponse{AccessToken: `a"b`, TokenType: "Bearer", ExpiresIn: 5, Scope: "s"}},
		{"backslash", tokenResponse{AccessToken: `a\b`, TokenType: "Bearer", ExpiresIn: 5, Scope: "s"}},
		{"html", tokenResponse{AccessToken: "a<b>&c", TokenType: "Bearer", ExpiresIn: 5, Scope: "s"}},
		{"control", tokenResponse{AccessToken: "a\nb\x00", TokenType: "Bearer", ExpiresIn: 5, Scope: "s"}},
		{"unicode scope", tokenResponse{AccessToken: "t", TokenType: "Bearer", ExpiresIn: 5, Scope: "æøå\u2028"}},
		{"large expires_in", tokenResponse{AccessToken: "t", TokenType: "Bearer", ExpiresIn: 1 << 40, Scope: "s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fast, slow := httptest.NewRecorder(), httptest.NewRecorder()
			setHygiene(fast.Header(), []string{"x"}) // Content-Type comes from the guard
			(&servedReply{token: tc.tr.AccessToken, scope: tc.tr.Scope}).at(tc.tr.ExpiresIn).write(fast)
			writeJSON(slow, 200, tc.tr)
			if fast.Body.String() != slow.Body.String() {
				t.Errorf("body\n got %q\nwant %q", fast.Body.String(), slow.Body.String())
			}
			if h := "Content-Type"; fast.Header().Get(h) != slow.Header().Get(h) {
				t.Errorf("%s = %q, want %q", h, fast.Header().Get(h), slow.Header().Get(h))
			}
			// A short reply leaves Content-Length to net/http (TestTokenReplyFraming checks what is sent).
			if cl := fast.Header().Get("Content-Length"); cl != "" {
				t.Errorf("Content-Length %q set for a %d-byte body; net/http sets it", cl, fast.Body.Len())
			}
			if fast.Code != 200 {
				t.Errorf("status %d", fast.Code)
			}
		})
	}
}

// TestTokenReplyFraming: a served token reply, short (net/http sets its Content-Length) or longer than
// net/http's response buffer (the agent sets it), arrives with the Content-Length of its body, not
// chunked, and with a Date of the current second (the agent's per-second Date).
func TestTokenReplyFraming(t *testing.T) {
	a := startAgent(t, nil)
	grant := url.Values{"grant_type": {"client_credentials"}}
	for _, tc := range []struct {
		name  string
		token string
	}{{"short", "eyJhbGciOiJSUzI1NiJ9.short.sig"}, {"long", "eyJ." + strings.Repeat("x", 3*netHTTPBuffer) + ".sig"}} {
		t.Run(tc.name, func(t *testing.T) {
			a.src.set(func(f *fakeSource) { f.fixed = tc.token })
			before := time.Now().Truncate(time.Second)
			_, resp, body := a.live(t, req{form: grant, user: idA, pass: secretA})
			after := time.Now()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.token) {
				t.Fatalf("status %d, body %d bytes", resp.StatusCode, len(body))
			}
			if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) != 0 {
				t.Errorf("Content-Length %d (header %q), Transfer-Encoding %q; want %d and none", resp.ContentLength,
					resp.Header.Get("Content-Length"), resp.TransferEncoding, len(body))
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length header %q, want %d", cl, len(body))
			}
			date, err := http.ParseTime(resp.Header.Get("Date"))
			if err != nil || date.Before(before) || date.After(after) {
				t.Errorf("Date %q (%v), want a time in [%v, %v]", resp.Header.Get("Date"), err, before, after)
			}
			if n := len(resp.Header["Date"]); n != 1 {
				t.Errorf("%d Date headers", n)
			}
		})
	}
}
