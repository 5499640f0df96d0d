package perf

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkTokenEndpoint is a cached POST /oauth2/token over loopback HTTP with keep-alive from 50
// parallel callers, against the real agent (guard, form, SHA-256 caller authentication, allowlists,
// tokens.Cache hit, JSON, metrics) and against a bare net/http handler that returns a constant reply of
// the same size. The ratio of the two ns/op is the agent's overhead; with -cpuprofile and
// -run '^$' -bench TokenEndpoint/agent, pprof shows where the agent's share goes. scripts/bench measures
// the same with wrk against the built binary.
func BenchmarkTokenEndpoint(b *testing.B) {
	r := newRig(b, rigOptions{})
	warm := r.token(context.Background(), alpha)
	if err := checkValid(warm, time.Now()); err != nil {
		b.Fatal(err)
	}
	bare := serveBare(b, len(warm.token), false, false)
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	authz := "Basic " + basic(alpha, r.secrets[alpha])
	for _, tc := range []struct{ name, url string }{{"agent", r.base}, {"bare", bare}} {
		b.Run(tc.name, func(b *testing.B) {
			tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			b.SetParallelism(25) // 50 callers on 2 CPUs
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, tc.url+"/oauth2/token", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", authz)
					resp, err := hc.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}

// serveBare serves the baseline: a constant token reply with a token of size bytes (what
// cmd/benchbare serves to wrk). hardened adds what the agent's server does before any handler code
// runs: its D8 timeouts and its D16 response headers, so that the gap between the hardened bare
// handler and the agent is the agent's own handler code. readsBody makes it read the request body, as
// the agent must (its form): net/http then starts, and at the reply aborts, a background read per
// request, which a handler that never reads the body does not pay for.
func serveBare(b *testing.B, size int, hardened, readsBody bool) string {
	body, err := json.Marshal(map[string]any{"access_token": strings.Repeat("x", size), "token_type": "Bearer",
		"expires_in": 119, "scope": scopeRead})
	must(b, err)
	body = append(body, '\n')
	length := strconv.Itoa(len(body))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if readsBody {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		h := w.Header()
		if hardened {
			h.Set("Pragma", "no-cache")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", length)
		_, _ = w.Write(body)
	})}
	if hardened {
		srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 10*time.Second, 10*time.Second, 60*time.Second
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func basic(id, secret string) string {
	return base64Std(id + ":" + secret)
}

// BenchmarkCallerAuth is the agent's caller authentication on the hot path: SHA-256 of a 256-bit
// secret and a constant-time compare with the configured digest, per request. The bcrypt sub-benchmark
// (cost 10) shows what a password hash per request would cost instead.
func BenchmarkCallerAuth(b *testing.B) {
	secret := []byte("Yk3pQ0v2m9X4tB7nR1sL8cF5hJ6wZ0aE2gU4iO9yT3q") // 43 characters: 256 bits, base64url
	want := sha256.Sum256(secret)
	b.Run("sha256+constant-time", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := sha256.Sum256(secret)
			if subtle.ConstantTimeCompare(d[:], want[:]) != 1 {
				b.Fatal("mismatch")
			}
		}
	})
	b.Run("bcrypt-cost10", func(b *testing.B) {
		h, err := bcrypt.GenerateFromPassword(secret, 10)
		must(b, err)
		b.ReportAllocs()
		for b.Loop() {
			if err := bcrypt.CompareHashAndPassword(h, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
