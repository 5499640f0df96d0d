package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// Two callers with different allowlists. The secrets are test fixtures, registered as canaries.
const (
	testOrg = "314250052"
	idA     = "sap"
	secretA = "sA.canary.9f8e7d6c5b4a39281706f5e4d3c2b1a0a1b2c3d4e5f60718"
	idB     = "report"
	secretB = "sB.canary.0a1b2c3d4e5f60718293a4b5c6d7e8f9f8e7d6c5b4a39281"
)

func hexSHA(s string) string { d := sha256.Sum256([]byte(s)); return hex.EncodeToString(d[:]) }

// testConfig: A (sap) may use system user "default" with scopes test:a1 test:a2, Maskinporten tokens;
// B (report) may use "second" (externalRef ext-2, default) and "default" with test:b1 test:b2, Altinn.
func testConfig() *config.Config {
	return &config.Config{
		Organization: testOrg,
		Listen:       "127.0.0.1:7070",
		SystemUsers: []config.SystemUser{
			{Name: "default", Scopes: []string{"test:a1", "test:a2", "test:b1"}},
			{Name: "second", ExternalRef: "ext-2", Scopes: []string{"test:b1", "test:b2"}},
		},
		Clients: []config.Client{
			{ID: idA, SecretSHA256: hexSHA(secretA), SystemUsers: []string{"default"},
				Scopes: []string{"test:a1", "test:a2"}},
			{ID: idB, SecretSHA256: hexSHA(secretB), SystemUsers: []string{"second", "default"},
				Scopes: []string{"test:b1", "test:b2"}, TokenKind: "altinn"},
		},
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// fakeSource counts calls and hands out canary tokens valid for lifetime (default 120 s) on its clock.
type fakeSource struct {
	clock    *fakeClock
	mu       sync.Mutex
	calls    int
	reqs     []tokens.Request
	err      error
	lifetime time.Duration
	fixed    string        // when set, every token has this value
	block    chan struct{} // when set, Token waits for it to close
	entered  chan struct{} // when set, Token signals each call
}

func (f *fakeSource) Token(ctx context.Context, r tokens.Request) (tokens.Token, error) {
	f.mu.Lock()
	f.calls++
	f.reqs = append(f.reqs, r)
	err, block, entered, life, fixed := f.err, f.block, f.entered, f.lifetime, f.fixed
	f.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return tokens.Token{}, ctx.Err()
		}
	}
	if err != nil {
		return tokens.Token{}, err
	}
	if life == 0 {
		life = 120 * time.Second
	}
	v := fixed
	if v == "" {
		v = canaryToken()
	}
	return tokens.Token{AccessToken: v, TokenType: "Bearer", Scope: r.ScopeString(),
		Expiry: f.clock.Now().Add(life)}, nil
}

func (f *fakeSource) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

func (f *fakeSource) last() tokens.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return tokens.Request{}
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeSource) set(fn func(*fakeSource)) { f.mu.Lock(); defer f.mu.Unlock(); fn(f) }

// canaryToken makes a token value and registers it as a canary.
func canaryToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	v := "eyJcanary." + hex.EncodeToString(b)
	canaries.add("served token", v, "")
	return v
}

// testAgent is a Server running on a real loopback listener.
type testAgent struct {
	srv    *Server
	src    *fakeSource
	clock  *fakeClock
	logs   *testlog.Buffer
	reg    *prometheus.Registry
	port   int
	base   string // http://127.0.0.1:port
	client *http.Client
	cancel context.CancelFunc
	done   chan error
}

// startAgent runs Run on Listen(ctx, "127.0.0.1:0"); mod may change the options first.
func startAgent(t testing.TB, mod func(*Options)) *testAgent {
	t.Helper()
	clock := newFakeClock()
	a := &testAgent{src: &fakeSource{clock: clock}, clock: clock, reg: prometheus.NewRegistry()}
	log, logs := newTestLogger()
	a.logs = logs
	o := Options{Config: testConfig(), Tokens: a.src, Logger: log, Now: clock.Now, Registry: a.reg}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	a.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("Listen: %v", err)
	}
	a.port = ln.Addr().(*net.TCPAddr).Port
	a.base = "http://127.0.0.1:" + strconv.Itoa(a.port)
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- srv.Run(ctx, ln) }()
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}
	a.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		cancel()
		if err := <-a.done; err != nil {
			t.Errorf("Run: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return a
}

// req is one request to the test agent.
type req struct {
	method, path string
	form         url.Values
	user, pass   string // Basic credentials when user != ""
	header       map[string]string
	host         string // overrides Host
	body         string // raw body instead of form
	ctype        string // overrides Content-Type
}

// reply is a decoded response.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (a *testAgent) do(t testing.TB, r req) reply {
	t.Helper()
	_, resp, b := a.live(t, r)
	rep := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &rep.body)
	return rep
}

// live sends r to the agent and returns the request sent (its body readable again), the response and
// its body.
func (a *testAgent) live(t testing.TB, r req) (*http.Request, *http.Response, []byte) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/oauth2/token"
	}
	body := r.body
	if body == "" && r.form != nil {
		body = r.form.Encode()
	}
	hr, err := http.NewRequest(r.method, a.base+r.path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if r.method == http.MethodPost {
		hr.Header.Set("Content-Type", formType)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.user != "" {
		hr.SetBasicAuth(url.QueryEscape(r.user), url.QueryEscape(r.pass))
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	resp, err := a.client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	// A reply after which the server closes the connection (431) may end in a reset: keep what was read.
	b, _ := io.ReadAll(resp.Body)
	sent, err := http.NewRequest(r.method, a.base+r.path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sent.Header = hr.Header.Clone()
	return sent, resp, b
}

// tokenFor asks for a token as id/secret with extra form values.
func (a *testAgent) tokenFor(t testing.TB, id, secret string, extra url.Values) reply {
	t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}}
	for k, v := range extra {
		f[k] = v
	}
	return a.do(t, req{form: f, user: id, pass: secret})
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.status, r.str("error")+" "+r.str("error_description"))
}

func basic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// httpChunked writes the chunked transfer encoding to w.
func httpChunked(w io.Writer) io.WriteCloser { return httputil.NewChunkedWriter(w) }

func basicHeader(id, secret string) string { return "Basic " + basic(id, secret) }

// inProcessToken is the one token the in-process source hands out.
var inProcessToken = canaryToken()

// inProcess is the Handler driven through httptest, for fuzzing and benchmarks.
type inProcess struct {
	h   http.Handler
	src *fakeSource
}

// newInProcess builds the Handler; log nil discards logs (benchmarks measure the handler alone).
func newInProcess(t testing.TB, log *slog.Logger) *inProcess {
	t.Helper()
	clock := newFakeClock()
	src := &fakeSource{clock: clock, fixed: inProcessToken}
	s, err := New(Options{Config: testConfig(), Tokens: src, Logger: log, Now: clock.Now, FailureLimit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	return &inProcess{h: s.Handler(), src: src}
}

func (p *inProcess) post(host, authz string, form url.Values) int {
	return p.serve(host, authz, "application/x-www-form-urlencoded", form.Encode()).Code
}

func (p *inProcess) serve(host, authz, ctype, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
	r.Host = host
	r.Header.Set("Content-Type", ctype)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	p.h.ServeHTTP(w, r)
	return w
}
