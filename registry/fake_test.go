package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// secretToken is the access token the fake source hands out; it must never leak.
const secretToken = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXNlY3JldA"

// fakeTokens is a tokens.Source that records what it was asked for.
type fakeTokens struct {
	mu   sync.Mutex
	reqs []tokens.Request
	err  error
}

func (f *fakeTokens) Token(_ context.Context, r tokens.Request) (tokens.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, r)
	if f.err != nil {
		return tokens.Token{}, f.err
	}
	return tokens.Token{AccessToken: secretToken, TokenType: "Bearer"}, nil
}

// seen is one request the fake Altinn received.
type seen struct {
	Method, Path, Query, Auth string
	Body                      []byte
}

// fakeAltinn routes "METHOD /path" to handlers and records every request.
type fakeAltinn struct {
	t      *testing.T
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	calls  []seen
}

func newFake(t *testing.T) *fakeAltinn {
	return &fakeAltinn{t: t, routes: map[string]http.HandlerFunc{}}
}

// on routes method+path (path below /authentication/api/v1/).
func (f *fakeAltinn) on(method, path string, h http.HandlerFunc) *fakeAltinn {
	f.routes[method+" /authentication/api/v1/"+path] = h
	return f
}

func (f *fakeAltinn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), b})
	h := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if h == nil {
		f.t.Errorf("fake Altinn: unexpected %s %s", r.Method, r.URL.Path)
		w.WriteHeader(599)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	h(w, r)
}

// methods lists the methods of the recorded calls, e.g. ["GET", "PUT"].
func (f *fakeAltinn) methods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m []string
	for _, c := range f.calls {
		m = append(m, c.Method)
	}
	return m
}

func (f *fakeAltinn) last(method string) seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].Method == method {
			return f.calls[i]
		}
	}
	f.t.Fatalf("no %s call recorded", method)
	return seen{}
}

// client starts an httptest server for f and a Client on it.
func (f *fakeAltinn) client() (*Client, *fakeTokens) {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	ft := &fakeTokens{}
	return &Client{BaseURL: srv.URL + "/", HTTPClient: srv.Client(), Tokens: ft, RetryWaitMin: 1, RetryWaitMax: 1}, ft
}

// reply writes status and body (a string, []byte, or anything JSON).
func reply(status int, body any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var b []byte
		switch v := body.(type) {
		case nil:
		case []byte:
			b = v
		case string:
			b = []byte(v)
		default:
			b, _ = json.Marshal(v)
		}
		if len(b) > 0 {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON fails unless a and b are the same JSON value.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("JSON differs:\n got %s\nwant %s", gb, wb)
	}
}

// handlerTransport serves requests from a handler in memory (no sockets): for testing/synctest bubbles.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
