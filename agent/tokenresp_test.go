package agent

import (
	"net/http/httptest"
	"testing"
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
			setHygiene(fast.Header()) // Content-Type comes from the guard
			(&servedReply{token: tc.tr.AccessToken, scope: tc.tr.Scope}).at(tc.tr.ExpiresIn).write(fast)
			writeJSON(slow, 200, tc.tr)
			if fast.Body.String() != slow.Body.String() {
				t.Errorf("body\n got %q\nwant %q", fast.Body.String(), slow.Body.String())
			}
			for _, h := range []string{"Content-Type", "Content-Length"} {
				if fast.Header().Get(h) != slow.Header().Get(h) {
					t.Errorf("%s = %q, want %q", h, fast.Header().Get(h), slow.Header().Get(h))
				}
			}
			if fast.Code != 200 {
				t.Errorf("status %d", fast.Code)
			}
		})
	}
}
