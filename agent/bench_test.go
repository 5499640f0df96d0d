package agent

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkTokenEndpoint is a full /oauth2/token round trip over loopback HTTP with keep-alive:
// guard, form parsing, SHA-256 + constant-time authentication, allowlists, the source and JSON.
func BenchmarkTokenEndpoint(b *testing.B) {
	a := startAgent(b, func(o *Options) { o.Logger = nil })
	a.src.set(func(f *fakeSource) { f.fixed = inProcessToken }) // a cached-like source
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	authz := basicHeader(idA, secretA)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		hr, _ := http.NewRequest("POST", a.base+"/oauth2/token", strings.NewReader(body))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.Header.Set("Authorization", authz)
		resp, err := a.client.Do(hr)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkHandlerInProcess is the same request through Handler with httptest, no network.
func BenchmarkHandlerInProcess(b *testing.B) {
	p := newInProcess(b, nil)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	authz := basicHeader(idA, secretA)
	b.ReportAllocs()
	for b.Loop() {
		if w := p.serve("127.0.0.1:7070", authz, "application/x-www-form-urlencoded", body); w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
