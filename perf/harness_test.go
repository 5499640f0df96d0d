package perf

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// The organisation, its Maskinporten client and the scopes of the rig.
const (
	org        = "314250052"
	mpClientID = "perf-client"
	mpKID      = "perf-key"
	scopeRead  = "altinn:demo/read"
	scopeWrite = "altinn:demo/write"
)

// Three local callers, three cache keys: alpha and beta differ by scopes; gamma asks for alpha's
// scopes as an Altinn token, so its exchange shares alpha's Maskinporten token.
const (
	alpha = "alpha"
	beta  = "beta"
	gamma = "gamma"
)

// keyAlpha and keyBeta are the sandbox's names of the two Maskinporten cache keys.
var (
	keyAlpha = sandbox.GrantKey{ClientID: mpClientID, Scopes: scopeRead, Org: org}
	keyBeta  = sandbox.GrantKey{ClientID: mpClientID, Scopes: scopeRead + " " + scopeWrite, Org: org}
)

// signingKey is made once: RSA generation is slow, and every rig may share it.
var signingKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// fakeClock is a settable clock shared by the sandbox, the token client, the cache and the agent.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// rigOptions shape a rig; the zero value is a real clock and the product's defaults.
type rigOptions struct {
	now          func() time.Time                   // nil: time.Now
	lifetime     time.Duration                      // sandbox Maskinporten token lifetime (default 120 s)
	exchangeLife time.Duration                      // sandbox Altinn token lifetime (default 30 min)
	minValidity  time.Duration                      // cache MinValidity (default 10 s)
	refreshAhead time.Duration                      // cache RefreshAhead (default 60 s)
	retry        tokens.RetryPolicy                 // token client retries (zero: defaults)
	attempt      time.Duration                      // upstream per-attempt timeout (zero: the product's 15 s)
	timeouts     agent.Timeouts                     // agent HTTP timeouts (zero: defaults)
	maxConns     int                                // agent connection bound (zero: default 256)
	wrap         func(*tokens.Client) tokens.Source // wraps the client under the cache
	systemUsers  int                                // more system users ("su-0"…, seeded) for the caller "many"
	noHedge      bool                               // the cache never hedges a slow fetch (CacheOptions.HedgeAfter < 0)
}

// many is the caller of the rig's extra system users (rigOptions.systemUsers), one cache key each.
const many = "many"

// rig is the agent served on 127.0.0.1:0 over a real cache and client against a sandbox.
type rig struct {
	sb      *sandbox.Sandbox
	cache   *tokens.Cache
	base    string // agent URL
	hc      *http.Client
	secrets map[string]string
	now     func() time.Time

	upstreamInFlight, upstreamMaxInFlight atomic.Int64 // concurrent upstream token requests (countingTransport)
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	if o.now == nil {
		o.now = time.Now
	}
	r := &rig{now: o.now, secrets: map[string]string{}}
	r.sb = sandbox.New(sandbox.Options{Now: o.now, TokenLifetime: o.lifetime, ExchangeLifetime: o.exchangeLife})
	sbURL := r.serveSandbox(t)

	key := signingKey()
	r.sb.AddOrganization(org, "PERF AS")
	must(t, r.sb.RegisterClient(sandbox.Client{ID: mpClientID, Org: org, Scopes: []string{scopeRead, scopeWrite},
		Keys: []sandbox.ClientKey{{KID: mpKID, Public: &key.PublicKey}}}))
	sysID := org + "_perf"
	must(t, r.sb.SeedSystem(sandbox.SystemSeed{ID: sysID, ClientIDs: []string{mpClientID},
		Rights: []string{sandbox.ResourceExample}}))
	_, err := r.sb.SeedSystemUser(sysID, org, "")
	must(t, err)

	upstreamHTTP := tokens.NewHTTPClient(tokens.HTTPOptions{})
	upstreamHTTP.Transport = &countingTransport{base: upstreamHTTP.Transport, r: r}
	if o.attempt > 0 {
		upstreamHTTP.Timeout = o.attempt
	}
	client, err := tokens.NewClient(tokens.ClientOptions{Issuer: sbURL + "/maskinporten/",
		TokenURL: sbURL + "/maskinporten/token", AltinnURL: sbURL + "/altinn", ClientID: mpClientID, KeyID: mpKID,
		Signer: key, HTTPClient: upstreamHTTP, Now: o.now, Retry: o.retry})
	must(t, err)
	var src tokens.Source = client
	if o.wrap != nil {
		src = o.wrap(client)
	}
	hedge := time.Duration(0)
	if o.noHedge {
		hedge = -1
	}
	r.cache = tokens.NewCache(src, tokens.CacheOptions{Now: o.now, MinValidity: o.minValidity,
		RefreshAhead: o.refreshAhead, HedgeAfter: hedge})

	cfg := &config.Config{Environment: config.EnvSandbox, Organization: org, Listen: "127.0.0.1:7070",
		SystemUsers: []config.SystemUser{{Name: "default", Scopes: []string{scopeRead, scopeWrite}}}}
	for _, c := range []struct {
		id, kind string
		scopes   []string
		sus      []string
	}{{alpha, "", []string{scopeRead}, nil}, {beta, "", []string{scopeRead, scopeWrite}, nil},
		{gamma, "altinn", []string{scopeRead}, nil}, {many, "", []string{scopeRead}, r.seedSystemUsers(t, sysID, cfg, o.systemUsers)}} {
		if c.id == many && len(c.sus) == 0 {
			continue
		}
		secret := randomSecret(t)
		r.secrets[c.id] = secret
		sum := sha256.Sum256([]byte(secret))
		if c.sus == nil {
			c.sus = []string{"default"}
		}
		cfg.Clients = append(cfg.Clients, config.Client{ID: c.id, SecretSHA256: hex.EncodeToString(sum[:]),
			SystemUsers: c.sus, Scopes: c.scopes, TokenKind: c.kind})
	}
	srv, err := agent.New(agent.Options{Config: cfg, Tokens: r.cache, Now: o.now, Timeouts: o.timeouts,
		MaxConns: o.maxConns})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := agent.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r.base = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2048}
	r.hc = &http.Client{Transport: tr, Timeout: 6 * time.Minute} // beyond any agent timeout a test sets
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return r
}

// seedSystemUsers adds n system users su-0… (externalRef ext-0…) to the sandbox and to cfg and returns
// their names.
func (r *rig) seedSystemUsers(t testing.TB, sysID string, cfg *config.Config, n int) []string {
	var names []string
	for i := range n {
		name, ref := "su-"+strconv.Itoa(i), "ext-"+strconv.Itoa(i)
		_, err := r.sb.SeedSystemUser(sysID, org, ref)
		must(t, err)
		cfg.SystemUsers = append(cfg.SystemUsers, config.SystemUser{Name: name, ExternalRef: ref,
			Scopes: []string{scopeRead}})
		names = append(names, name)
	}
	return names
}

// serveSandbox serves the sandbox on loopback.
func (r *rig) serveSandbox(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	base := "http://" + ln.Addr().String()
	r.sb.SetBaseURL(base)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: r.sb.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return base
}

// countingTransport counts the agent's concurrent Maskinporten token requests, from the moment one is
// sent until its reply (or error) is back: how many upstream attempts run at once.
type countingTransport struct {
	base http.RoundTripper
	r    *rig
}

func (c *countingTransport) RoundTrip(q *http.Request) (*http.Response, error) {
	if q.URL.Path != "/maskinporten/token" {
		return c.base.RoundTrip(q)
	}
	n := c.r.upstreamInFlight.Add(1)
	defer c.r.upstreamInFlight.Add(-1)
	for m := c.r.upstreamMaxInFlight.Load(); n > m; m = c.r.upstreamMaxInFlight.Load() {
		if c.r.upstreamMaxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	return c.base.RoundTrip(q)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randomSecret(t testing.TB) string {
	var b [32]byte
	_, err := rand.Read(b[:])
	must(t, err)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// reply is what a local caller got from POST /oauth2/token.
type reply struct {
	status     int
	retryAfter string
	token      string
	expiresIn  int64
	errCode    string
	err        error // transport error or timeout: the caller got no reply
}

// token asks the agent for caller's token.
func (r *rig) token(ctx context.Context, caller string) reply {
	return r.tokenFor(ctx, caller, "")
}

// tokenFor asks the agent for caller's token for system user su ("" for the caller's default).
func (r *rig) tokenFor(ctx context.Context, caller, su string) reply {
	form := url.Values{"grant_type": {"client_credentials"}}
	if su != "" {
		form.Set("system_user", su)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/oauth2/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(caller, r.secrets[caller])
	resp, err := r.hc.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return reply{err: err}
	}
	var b struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return reply{status: resp.StatusCode, err: fmt.Errorf("reply is not JSON: %w", err)}
	}
	return reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), token: b.AccessToken,
		expiresIn: b.ExpiresIn, errCode: b.Error}
}

// checkValid fails unless rp is a 200 whose token is unexpired at now both by expires_in and by the
// JWT's own exp claim.
func checkValid(rp reply, now time.Time) error {
	if rp.err != nil {
		return rp.err
	}
	if rp.status != http.StatusOK {
		return fmt.Errorf("status %d (%s), want 200", rp.status, rp.errCode)
	}
	if rp.expiresIn <= 0 {
		return fmt.Errorf("expires_in %d, want > 0", rp.expiresIn)
	}
	exp, err := jwtExp(rp.token)
	if err != nil {
		return err
	}
	if !exp.After(now) {
		return fmt.Errorf("served a token whose exp %s is not after now %s", exp.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return nil
}

// jwtExp decodes the exp claim of a JWT without verifying it.
func jwtExp(tok string) (time.Time, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("the token is not a JWT (%d parts)", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("the token's payload is not base64url: %w", err)
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return time.Time{}, fmt.Errorf("the token's payload is not JSON: %w", err)
	}
	secs, err := strconv.ParseInt(c.Exp.String(), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("the token has no integer exp: %w", err)
	}
	return time.Unix(secs, 0), nil
}

// waitFor polls cond until it holds or the deadline passes; it synchronises with goroutines the test
// cannot observe otherwise, it proves nothing by itself.
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(time.Millisecond)
	}
}
