package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// TestGracefulShutdown: a request in flight when the context ends still completes; Run then returns nil.
func TestGracefulShutdown(t *testing.T) {
	a := startAgent(t, nil)
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	a.src.set(func(f *fakeSource) { f.block, f.entered = release, entered })
	got := make(chan reply, 1)
	go func() { got <- a.tokenFor(t, idA, secretA, nil) }()
	<-entered
	a.cancel()
	// Wait until shutdown has closed the listener, then check Run is still waiting for the request.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", a.port))
		if err != nil {
			break
		}
		_ = c.Close()
		if i > 1000 {
			t.Fatal("listener still open long after cancel")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-a.done:
		t.Fatalf("Run returned %v while a request was in flight", err)
	default:
	}
	close(release)
	if r := <-got; r.status != 200 || r.str("access_token") == "" {
		t.Fatalf("in-flight request: got %v, want 200 with a token", r)
	}
	err := <-a.done
	a.done <- err // for the cleanup
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestShutdownBounded: a request that never finishes is cut after Timeouts.Shutdown and Run says so.
func TestShutdownBounded(t *testing.T) {
	a := startAgent(t, func(o *Options) { o.Timeouts.Shutdown = 50 * time.Millisecond })
	entered := make(chan struct{}, 1)
	a.src.set(func(f *fakeSource) { f.block, f.entered = make(chan struct{}), entered })
	errc := make(chan error, 1)
	go func() {
		hr, _ := http.NewRequest("POST", a.base+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.SetBasicAuth(idA, secretA)
		resp, err := a.client.Do(hr)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-entered
	a.cancel()
	err := <-a.done
	a.done <- nil
	if err == nil || !strings.Contains(err.Error(), "cut") {
		t.Fatalf("Run = %v, want an error saying requests were cut", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the stuck request got a response")
	}
}

// TestReadyNamesTheKey: /readyz says which backend signs and whether its key can be exported.
func TestReadyNamesTheKey(t *testing.T) {
	for _, k := range []KeyInfo{{Backend: "tpm2", Exportable: false}, {Backend: "systemd-creds", Exportable: true}} {
		a := startAgent(t, func(o *Options) { o.Key = k })
		r := a.do(t, req{method: "GET", path: "/readyz"})
		got, _ := r.body["key"].(map[string]any)
		if r.status != 200 || got["backend"] != k.Backend || got["exportable"] != k.Exportable {
			t.Errorf("%+v: readyz %d %v", k, r.status, r.body)
		}
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	var notReady error = errors.New("system user not yet approved")
	a := startAgent(t, func(o *Options) {
		o.Ready = func(ctx context.Context) error { return notReady }
	})
	if r := a.do(t, req{method: "GET", path: "/healthz"}); r.status != 200 || r.str("status") != "ok" {
		t.Errorf("healthz: %v", r)
	}
	r := a.do(t, req{method: "GET", path: "/readyz"})
	if r.status != 503 || r.str("reason") != notReady.Error() {
		t.Errorf("readyz: %d %v", r.status, r.body)
	}
	if _, ok := r.body["key"]; ok {
		t.Errorf("readyz reports a key nobody described: %v", r.body)
	}
	a.tokenFor(t, idA, secretA, nil)
	a.tokenFor(t, idA, "wrong", nil)
	a.do(t, req{method: "GET", path: "/healthz", header: map[string]string{"Origin": "http://x"}})
	m := a.do(t, req{method: "GET", path: "/metrics"}).raw
	for _, want := range []string{
		`systemuser_agent_http_requests_total{code="200",route="/oauth2/token"} 1`,
		`systemuser_agent_http_requests_total{code="401",route="/oauth2/token"} 1`,
		`systemuser_agent_http_requests_total{code="503",route="/readyz"} 1`,
		`systemuser_agent_auth_failures_total{reason="wrong_secret"} 1`,
		`systemuser_agent_refused_requests_total{defence="D3"} 1`,
		`systemuser_agent_token_source_seconds_count 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, "canary") {
		t.Error("metrics contain a secret")
	}
}

// fakeAddrListener is a listener with any address, to show Run refusing non-loopback ones.
type fakeAddrListener struct {
	addr net.Addr
}

func (l fakeAddrListener) Addr() net.Addr            { return l.addr }
func (l fakeAddrListener) Close() error              { return nil }
func (l fakeAddrListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }

func TestD1RunRefusesNonLoopback(t *testing.T) {
	srv, err := New(Options{Config: testConfig(), Tokens: &fakeSource{clock: newFakeClock()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4zero, Port: 7070},
		&net.TCPAddr{IP: net.IPv6unspecified, Port: 7070},
		&net.TCPAddr{IP: net.IPv4(192, 168, 1, 1), Port: 7070},
		&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7070},
	} {
		err := srv.Run(context.Background(), fakeAddrListener{addr: addr})
		if err == nil || !strings.Contains(err.Error(), "refusing to serve") {
			t.Errorf("Run on %s: %v, want a refusal", addr, err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*config.Config)
		field string
	}{
		{"wildcard listen", func(c *config.Config) { c.Listen = "0.0.0.0:7070" }, "listen"},
		{"host name listen", func(c *config.Config) { c.Listen = "localhost:7070" }, "listen"},
		{"bad org", func(c *config.Config) { c.Organization = "12345" }, "organization"},
		{"duplicate system user", func(c *config.Config) { c.SystemUsers[1].Name = "default" }, "system_users[1].name"},
		{"duplicate client", func(c *config.Config) { c.Clients[1].ID = idA }, "clients[1].id"},
		{"client id with colon", func(c *config.Config) { c.Clients[0].ID = "a:b" }, "clients[0].id"},
		{"bad digest", func(c *config.Config) { c.Clients[0].SecretSHA256 = "abc" }, "secret_sha256"},
		{"no system users", func(c *config.Config) { c.Clients[0].SystemUsers = nil }, "clients[0].system_users"},
		{"unknown system user", func(c *config.Config) { c.Clients[0].SystemUsers = []string{"x"} }, "which is not in system_users"},
		{"no scopes", func(c *config.Config) { c.Clients[0].Scopes = nil }, "clients[0].scopes"},
		{"bad kind", func(c *config.Config) { c.Clients[0].TokenKind = "saml" }, "token_kind"},
	}
	for _, tc := range cases {
		cfg := testConfig()
		tc.mod(cfg)
		_, err := New(Options{Config: cfg, Tokens: &fakeSource{}})
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.field)
		}
	}
	if _, err := New(Options{Config: testConfig()}); err == nil {
		t.Error("no token source accepted")
	}
}

// TestHandlerInProcess: Handler accepts the configured port's Host names.
func TestHandlerInProcess(t *testing.T) {
	h := newInProcess(t, newLoggerTo(suiteLog))
	if code := h.post("127.0.0.1:7070", basicHeader(idA, secretA), url.Values{"grant_type": {"client_credentials"}}); code != 200 {
		t.Fatalf("got %d", code)
	}
	if code := h.post("127.0.0.1:7071", basicHeader(idA, secretA), url.Values{"grant_type": {"client_credentials"}}); code != 403 {
		t.Fatalf("other port: got %d", code)
	}
}
