package setup_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

const (
	org      = "314250052"
	clientID = "agent-test-client"
	kid      = "key-1"
	scope    = "altinn:systembruker.demo"
)

var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// clock is a settable clock shared by the sandbox, the token client and setup.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one sandbox, one configuration and one state directory: an organisation's machine.
type env struct {
	t     *testing.T
	sb    *sandbox.Sandbox
	cfg   *config.Config
	dir   string
	clock *clock

	mu      sync.Mutex
	events  []setup.Event
	onEvent func(setup.Event) // called for every event, e.g. to approve like an administrator
}

// newEnv starts a sandbox with the organisation's Maskinporten client and a config with the given system
// users (name → externalRef).
func newEnv(t *testing.T, opts sandbox.Options, users ...config.SystemUser) *env {
	t.Helper()
	clk := &clock{t: time.Date(2026, 7, 20, 8, 0, 0, 0, time.UTC)}
	opts.Now = clk.Now
	sb := sandbox.New(opts)
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	err := sb.RegisterClient(sandbox.Client{ID: clientID, Org: org, Scopes: append(registry.Scopes(), scope),
		Keys: []sandbox.ClientKey{{KID: kid, Public: testKey().Public()}}})
	if err != nil {
		t.Fatal(err)
	}
	sb.AddOrganization(org, "Eksempel AS")
	if len(users) == 0 {
		users = []config.SystemUser{{Name: "default", Scopes: []string{scope}}}
	}
	users = slices.Clone(users) // Validate fills in defaults in place
	cfg := &config.Config{
		Environment: config.EnvSandbox,
		Endpoints: config.Endpoints{MaskinportenIssuer: sb.MaskinportenIssuer(), MaskinportenToken: sb.MaskinportenTokenURL(),
			Altinn: sb.AltinnURL()},
		Organization: org,
		Maskinporten: config.Maskinporten{ClientID: clientID, Key: config.KeyRef{Backend: "memory", Name: "maskinporten"}, KID: kid},
		System: config.System{ID: org + "_sap-local",
			Name:        config.Texts{NB: "SAP lokal", NN: "SAP lokal", EN: "SAP local"},
			Description: config.Texts{NB: "Eget system", NN: "Eige system", EN: "Own system"},
			Rights:      []config.Right{{Resource: sandbox.ResourceExample}}},
		SystemUsers: users,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	return &env{t: t, sb: sb, cfg: cfg, dir: t.TempDir(), clock: clk}
}

func (e *env) record(ev setup.Event) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	f := e.onEvent
	e.mu.Unlock()
	if f != nil {
		f(ev)
	}
}

// eventsOf returns the recorded events of step with status.
func (e *env) eventsOf(step, status string) []setup.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []setup.Event
	for _, ev := range e.events {
		if ev.Step == step && ev.Status == status {
			out = append(out, ev)
		}
	}
	return out
}

// approveOnWait makes the sandbox approve (or reject) a request as soon as setup waits for it.
func (e *env) approveOnWait(approve bool) {
	e.onEvent = func(ev setup.Event) {
		if ev.Step == setup.StepApproval && ev.Status == setup.StatusWaiting && ev.RequestID != "" && ev.Detail["kind"] == "change" {
			if approve {
				_ = e.sb.ApproveChange(ev.RequestID)
			} else {
				_ = e.sb.RejectChange(ev.RequestID)
			}
			return
		}
		if ev.Step == setup.StepApproval && ev.Status == setup.StatusWaiting && ev.RequestID != "" {
			if approve {
				_ = e.sb.Approve(ev.RequestID)
			} else {
				_ = e.sb.Reject(ev.RequestID)
			}
		}
	}
}

// newSetup wires a fresh process: new HTTP, token and registry clients, the same sandbox and state dir.
// wrap, if set, wraps the HTTP transport of every upstream call.
func (e *env) newSetup(wrap func(http.RoundTripper) http.RoundTripper) *setup.Setup {
	e.t.Helper()
	var rt http.RoundTripper = tokens.NewHTTPClient(tokens.HTTPOptions{}).Transport
	if wrap != nil {
		rt = wrap(rt)
	}
	hc := &http.Client{Transport: rt, Timeout: 10 * time.Second}
	tc, err := tokens.NewClient(tokens.ClientOptions{Issuer: e.sb.MaskinportenIssuer(), TokenURL: e.sb.MaskinportenTokenURL(),
		ClientID: clientID, KeyID: kid, Signer: testKey(), AltinnURL: e.sb.AltinnURL(), HTTPClient: hc, Now: e.clock.Now,
		Retry: tokens.RetryPolicy{WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond}})
	if err != nil {
		e.t.Fatal(err)
	}
	cache := tokens.NewCache(tc, tokens.CacheOptions{Now: e.clock.Now, NegativeTTL: -1})
	reg := &registry.Client{BaseURL: e.sb.AltinnURL(), HTTPClient: hc, Tokens: cache,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond}
	return &setup.Setup{Config: e.cfg, StateDir: e.dir, Registry: reg, Tokens: cache,
		Signer: func(context.Context) (crypto.Signer, error) { return testKey(), nil }, Events: e.record, Now: e.clock.Now}
}

// fastWait polls every millisecond: correctness never depends on the interval.
var fastWait = registry.WaitOptions{Interval: time.Millisecond, MaxInterval: 2 * time.Millisecond}

// effRef is the externalRef Altinn stores for su.
func effRef(su config.SystemUser) string {
	if su.ExternalRef == "" {
		return org
	}
	return su.ExternalRef
}

// assertOnboarded checks the end state: one live system, exactly one request and one system user per
// externalRef (nothing deleted, nothing duplicated), a state file that names them, and working tokens.
func (e *env) assertOnboarded(t *testing.T, deletedRequests int) {
	t.Helper()
	systems := e.sb.Systems()
	if len(systems) != 1 || systems[0].ID != e.cfg.System.ID || systems[0].Deleted || systems[0].IsVisible ||
		len(systems[0].ClientIDs) != 1 || systems[0].ClientIDs[0] != clientID {
		t.Errorf("systems: %+v", systems)
	}
	live := map[string][]sandbox.RequestView{}
	deleted := 0
	for _, r := range e.sb.Requests() {
		if r.Deleted {
			deleted++
			continue
		}
		live[r.ExternalRef] = append(live[r.ExternalRef], r)
	}
	if deleted != deletedRequests || len(live) != len(e.cfg.SystemUsers) {
		t.Errorf("requests: %d deleted (want %d), live by ref %+v", deleted, deletedRequests, live)
	}
	users := map[string]string{}
	for _, u := range e.sb.SystemUsers() {
		if !u.Deleted {
			if _, dup := users[u.ExternalRef]; dup {
				t.Errorf("two system users for externalRef %s", u.ExternalRef)
			}
			users[u.ExternalRef] = u.ID
		}
	}
	st, err := config.LoadState(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.System.ID != e.cfg.System.ID || st.System.ClientID != clientID {
		t.Errorf("state system %+v", st.System)
	}
	s := e.newSetup(nil)
	for _, su := range e.cfg.SystemUsers {
		ref := effRef(su)
		rs := live[ref]
		if len(rs) != 1 || rs[0].Status != "Accepted" {
			t.Errorf("externalRef %s: requests %+v", ref, rs)
			continue
		}
		us := st.SystemUsers[su.Name]
		if us.Status != "Accepted" || us.RequestID != rs[0].ID || us.SystemUserID != users[ref] || us.ExternalRef != su.ExternalRef {
			t.Errorf("state of %s: %+v; want request %s, system user %s", su.Name, us, rs[0].ID, users[ref])
		}
		tok, err := s.Tokens.Token(context.Background(), tokens.Request{Scopes: su.Scopes, Org: org, ExternalRef: su.ExternalRef})
		if err != nil || tok.AccessToken == "" {
			t.Errorf("token for %s: %v", su.Name, err)
		}
	}
}

// killer stops the "process" after the n-th upstream reply: it cancels the run's context and either loses
// that reply (the upstream did the work, the client never hears of it) or delivers it first. A killed
// process makes no more calls: every later round trip fails without reaching the upstream (the token
// cache's shared fetch outlives a cancelled caller by design, and its retry must not reach the sandbox
// either), and is counted in late.
type killer struct {
	base   http.RoundTripper
	after  int64 // 0: never
	lose   bool
	cancel context.CancelFunc
	n      atomic.Int64
	dead   atomic.Bool
	late   atomic.Int64
}

func (k *killer) RoundTrip(r *http.Request) (*http.Response, error) {
	if k.dead.Load() {
		k.late.Add(1)
		return nil, errors.New("killed: the process is gone")
	}
	resp, err := k.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if n := k.n.Add(1); k.after == 0 || n != k.after {
		return resp, nil
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	k.dead.Store(true)
	k.cancel()
	if k.lose || rerr != nil {
		return nil, errors.New("killed: the reply was lost")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
