package agent

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// attestListener stands in for an OS listener (package peer): every connection carries osUser.
type attestListener struct {
	net.Listener
	osUser string
}

func (l attestListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return attestConn{Conn: c, osUser: l.osUser}, nil
}

type attestConn struct {
	net.Conn
	osUser string
}

func (c attestConn) OSUser() string { return c.osUser }

// startAttested serves cfg on a loopback listener whose connections are attested as osUser ("" for a
// plain TCP listener).
func startAttested(t *testing.T, cfg *config.Config, osUser string) *testAgent {
	t.Helper()
	clock := newFakeClock()
	a := &testAgent{src: &fakeSource{clock: clock}, clock: clock}
	log, logs := newTestLogger()
	a.logs = logs
	srv, err := New(Options{Config: cfg, Tokens: a.src, Logger: log, Now: clock.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	a.port = ln.Addr().(*net.TCPAddr).Port
	a.base = "http://127.0.0.1:" + strconv.Itoa(a.port)
	if osUser != "" {
		ln = attestListener{Listener: ln, osUser: osUser}
	}
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- srv.Run(ctx, ln) }()
	tr := &http.Transport{Proxy: nil}
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

// TestD10AttestedCallerNeedsNoSecret: on a connection the listener attests as a configured os_user,
// that caller gets a token without a secret; the same request on plain TCP, or attested as another
// account, is refused; a caller without a secret can never authenticate with one.
func TestD10AttestedCallerNeedsNoSecret(t *testing.T) {
	cfg := testConfig()
	cfg.Clients = append(cfg.Clients,
		config.Client{ID: "svc", OSUser: "svcacct", SystemUsers: []string{"default"}, Scopes: []string{"test:a1"}},
		config.Client{ID: "svc2", OSUser: "shared", SystemUsers: []string{"default"}, Scopes: []string{"test:a1"}},
		config.Client{ID: "svc3", OSUser: "shared", SecretSHA256: hexSHA("s3"), SystemUsers: []string{"default"}, Scopes: []string{"test:a2"}},
	)
	grant := url.Values{"grant_type": {"client_credentials"}}
	withID := func(id string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}
	}
	mapped := startAttested(t, cfg, "svcacct")
	for name, r := range map[string]req{
		"no credentials":        {form: grant},
		"client_id only":        {form: withID("svc")},
		"Basic with any secret": {form: grant, user: "svc", pass: "whatever"},
	} {
		if got := mapped.do(t, r); got.status != 200 || got.str("scope") != "test:a1" {
			t.Errorf("mapped account, %s: %v (scope %q)", name, got, got.str("scope"))
		}
	}
	// Another caller's id on the mapped connection still needs that caller's secret.
	if got := mapped.do(t, req{form: withID(idA)}); got.status != 401 {
		t.Errorf("mapped account asking for another caller without its secret: %v", got)
	}
	if got := mapped.tokenFor(t, idA, secretA, nil); got.status != 200 {
		t.Errorf("another caller with its secret on the attested socket: %v", got)
	}

	plain := startAttested(t, cfg, "")
	for name, r := range map[string]req{
		"no credentials": {form: grant},
		"client_id only": {form: withID("svc")},
		"empty secret":   {form: grant, user: "svc", pass: ""},
		"some secret":    {form: grant, user: "svc", pass: "whatever"},
	} {
		if got := plain.do(t, r); got.status != 401 {
			t.Errorf("plain TCP, %s: %v, want 401", name, got)
		}
	}
	other := startAttested(t, cfg, "someone-else")
	if got := other.do(t, req{form: withID("svc")}); got.status != 401 {
		t.Errorf("attested as an unmapped account: %v, want 401", got)
	}
	// Two callers share an os_user: the request must say which (client_id); the right one is served.
	shared := startAttested(t, cfg, "shared")
	if got := shared.do(t, req{form: grant}); got.status != 401 {
		t.Errorf("ambiguous os_user without client_id: %v, want 401", got)
	}
	if got := shared.do(t, req{form: withID("svc3")}); got.status != 200 || got.str("scope") != "test:a2" {
		t.Errorf("shared os_user, client_id svc3: %v", got)
	}
}
