package sandbox

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// rawPost sends a token request and returns the status and body, or the transport error.
func (e *mpEnv) rawPost(assertion string) (int, string, error) {
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
	resp, err := e.srv.Client().Post(e.s.MaskinportenTokenURL(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestFaultStatus: 503 and 429 + Retry-After replies, applied before the request is handled (the same
// grant then succeeds), used up after Times, in injection order.
func TestFaultStatus(t *testing.T) {
	e := newMPEnv(t)
	e.s.Inject(TargetMaskinporten, Fault{Status: http.StatusServiceUnavailable, Times: 2})
	e.s.Inject(TargetMaskinporten, Fault{Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond, Times: 1})
	g := e.grant()
	for i, want := range []struct {
		status     int
		err        string
		retryAfter string
	}{{503, "temporarily_unavailable", ""}, {503, "temporarily_unavailable", ""}, {429, "invalid_request", "2"}} {
		r := e.post(g)
		if r.status != want.status || r.Error != want.err || r.header.Get("Retry-After") != want.retryAfter {
			t.Errorf("attempt %d: %d %q Retry-After %q; want %d %q %q", i+1, r.status, r.Error, r.header.Get("Retry-After"), want.status, want.err, want.retryAfter)
		}
	}
	e.mustToken(g) // the faulted attempts did not consume the jti
	st := e.s.Stats()
	if st.TokenRequests != 4 || st.FaultsInjected != 3 || st.TokensIssued != 1 || st.GrantsRejected != 0 {
		t.Errorf("stats %+v; want 4 requests, 3 faults, 1 issued, 0 rejected", st)
	}
}

// TestFaultUntilCleared: Times 0 applies until ClearFaults.
func TestFaultUntilCleared(t *testing.T) {
	e := newMPEnv(t)
	e.s.Inject(TargetMaskinporten, Fault{Status: http.StatusBadGateway})
	for i := range 5 {
		if r := e.post(e.grant()); r.status != http.StatusBadGateway || r.Error != "server_error" {
			t.Fatalf("attempt %d: %d %s", i, r.status, r.Error)
		}
	}
	e.s.ClearFaults()
	e.mustToken(e.grant())
}

// TestFaultTargets: faults apply to their target only; requests are counted per target.
func TestFaultTargets(t *testing.T) {
	e := newMPEnv(t)
	e.s.Inject(TargetExchange, Fault{Status: http.StatusInternalServerError})
	e.s.Inject(TargetAltinn, Fault{Status: http.StatusServiceUnavailable})
	get := func(path string) (int, string) {
		resp, err := e.srv.Client().Get(e.srv.URL + path)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("/altinn/authentication/api/v1/exchange/maskinporten"); st != 500 || body != "" {
		t.Errorf("exchange: %d %q; want 500 with an empty body", st, body)
	}
	if st, _ := get("/altinn/authentication/api/v1/systemregister/vendor"); st != 503 {
		t.Errorf("altinn: %d; want 503", st)
	}
	if st, _ := get("/maskinporten/jwk"); st != 200 {
		t.Errorf("jwk: %d; want 200", st)
	}
	e.mustToken(e.grant())
	st := e.s.Stats()
	if st.Exchanges != 1 || st.AltinnRequests != 1 || st.TokenRequests != 1 || st.FaultsInjected != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestFaultReset: the connection closes without a reply and the request is not handled (the same grant
// works afterwards).
func TestFaultReset(t *testing.T) {
	e := newMPEnv(t)
	e.s.Inject(TargetMaskinporten, Fault{Reset: true, Times: 1})
	g := e.grant()
	if st, body, err := e.rawPost(g); err == nil {
		t.Fatalf("reset: got a reply %d %q", st, body)
	}
	if st := e.s.Stats(); st.TokensIssued != 0 || st.GrantsRejected != 0 {
		t.Errorf("reset request was handled: %+v", st)
	}
	e.mustToken(g)
}

// TestFaultLoseReply: the grant is handled (jti consumed, token issued) but the reply is lost, so resending
// the same grant fails MP-012: the client must mint a new one (§7.14).
func TestFaultLoseReply(t *testing.T) {
	e := newMPEnv(t)
	e.s.Inject(TargetMaskinporten, Fault{LoseReply: true, Times: 1})
	g := e.grant()
	if st, body, err := e.rawPost(g); err == nil {
		t.Fatalf("lost reply: got %d %q", st, body)
	}
	if r := e.post(g); r.code(t) != "MP-012" {
		t.Errorf("resent grant: %d %s; want MP-012", r.status, r.ErrorDescription)
	}
	e.mustToken(e.grant())
	if st := e.s.Stats(); st.TokensIssued != 2 || st.Errors["MP-012"] != 1 {
		t.Errorf("stats %+v; want 2 issued (one lost), one MP-012", st)
	}
}

// TestFaultDelay runs in a synctest bubble: a delayed request is served after exactly the delay; a request
// whose context ends during the delay returns at once, unhandled, leaving no goroutine behind.
func TestFaultDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Options{})
		s.SetBaseURL("http://sandbox.test")
		h := s.Handler()
		s.Inject(TargetMaskinporten, Fault{Delay: 5 * time.Second, Times: 1})
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/maskinporten/.well-known/oauth-authorization-server", nil))
		if d := time.Since(start); d != 5*time.Second || rec.Code != http.StatusOK {
			t.Errorf("delayed request: %d after %s; want 200 after 5s", rec.Code, d)
		}

		s.Inject(TargetMaskinporten, Fault{Delay: time.Hour, Times: 1})
		ctx, cancel := context.WithCancel(t.Context())
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/maskinporten/token", strings.NewReader("grant_type=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec = httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			h.ServeHTTP(rec, req)
			close(done)
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the delayed request returned before its delay or cancellation")
		default:
		}
		start = time.Now()
		cancel()
		<-done
		if d := time.Since(start); d != 0 {
			t.Errorf("cancelled request returned after %s; want at once", d)
		}
		if st := s.Stats(); st.GrantsRejected != 0 || st.TokenRequests != 1 || rec.Body.Len() != 0 {
			t.Errorf("cancelled request was handled: %+v, body %q", st, rec.Body)
		}
	})
}

// TestFaultClientTimeout: a client deadline shorter than the delay times out (a real loopback request).
func TestFaultClientTimeout(t *testing.T) {
	e := newMPEnv(t)
	e.s.Inject(TargetMaskinporten, Fault{Delay: time.Hour, Times: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.s.MaskinportenIssuer()+"jwk", nil)
	must(t, err)
	if resp, err := e.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a request under a 1 h delay returned before the client deadline")
	}
	e.mustToken(e.grant()) // the fault is used up; the server is free
}

// TestStats: per-code errors, per-key token counts (scopes sorted), Altinn's countError, ResetStats.
func TestStats(t *testing.T) {
	e := newMPEnv(t)
	e.mustToken(e.grant(claim("scope", "altinn:y altinn:x")))
	e.mustToken(e.grant(claim("scope", "altinn:x altinn:y")))
	e.mustToken(e.grant(drop("authorization_details")))
	e.post(e.grant(claim("aud", "x")))
	e.post(e.grant(claim("iss", "x")))
	e.post(e.grant(claim("iss", "x")))
	e.s.countError("AUTH-00011")
	resp, err := e.srv.Client().Get(e.s.MaskinportenIssuer() + "jwk")
	must(t, err)
	resp.Body.Close()
	st := e.s.Stats()
	sysKey := GrantKey{ClientID: testClientID, Scopes: "altinn:x altinn:y", Org: testOrg}
	plainKey := GrantKey{ClientID: testClientID, Scopes: testScope}
	if st.TokenRequests != 6 || st.TokensIssued != 3 || st.GrantsRejected != 3 ||
		st.TokensByKey[sysKey] != 2 || st.TokensByKey[plainKey] != 1 || len(st.TokensByKey) != 2 ||
		st.Errors["MP-110"] != 1 || st.Errors["MP-100"] != 2 || st.Errors["AUTH-00011"] != 1 {
		t.Errorf("stats %+v", st)
	}
	st.Errors["MP-100"] = 99 // a copy
	if e.s.Stats().Errors["MP-100"] != 2 {
		t.Error("Stats shares its map with the sandbox")
	}
	e.s.ResetStats()
	if st := e.s.Stats(); st.TokenRequests != 0 || st.TokensIssued != 0 || len(st.Errors) != 0 || len(st.TokensByKey) != 0 {
		t.Errorf("after ResetStats: %+v", st)
	}
}

// TestStatsByKID: each issued token is counted under the kid of its grant, and LastGrant names the
// latest one's client, kid and the jti of the token issued (what a rotation test compares with a served
// token); a rejected grant changes neither; ResetStats clears both.
func TestStatsByKID(t *testing.T) {
	e := newMPEnv(t)
	other := testKeys()[1]
	must(t, e.s.AddClientKey(testClientID, ClientKey{KID: "next", Public: &other.PublicKey}))
	withNext := func(g *grantSpec) { g.header["kid"], g.key = "next", other }
	e.mustToken(e.grant())
	last := e.mustToken(e.grant(withNext)).AccessToken
	e.post(e.grant(func(g *grantSpec) { g.header["kid"] = "next" })) // signed with the other key: MP-124
	_, claims := e.verifyWithJWKS(last)
	st := e.s.Stats()
	want := IssuedGrant{ClientID: testClientID, KID: "next", TokenJTI: claims["jti"].(string)}
	if st.TokensByKID[testKID] != 1 || st.TokensByKID["next"] != 1 || len(st.TokensByKID) != 2 || st.LastGrant != want {
		t.Errorf("by kid %v, last grant %+v; want one token per kid and %+v", st.TokensByKID, st.LastGrant, want)
	}
	if d := statsOf(st); d.LastGrant == nil || *d.LastGrant != want || d.TokensByKID["next"] != 1 {
		t.Errorf("the drill API's stats: %+v", d)
	}
	e.s.ResetStats()
	if st := e.s.Stats(); len(st.TokensByKID) != 0 || st.LastGrant != (IssuedGrant{}) || statsOf(st).LastGrant != nil {
		t.Errorf("after ResetStats: %+v", st)
	}
}

// TestConcurrentGrants runs grants from several goroutines while keys rotate and client keys change, for
// the race detector; every grant must succeed and each is counted once.
func TestConcurrentGrants(t *testing.T) {
	e := newMPEnv(t)
	const workers, perWorker = 8, 5
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if r := e.post(e.grant()); r.status != http.StatusOK {
					errs <- r.ErrorDescription
				}
			}
		})
	}
	wg.Go(func() {
		e.s.RotateSigningKey()
		_ = e.s.AddClientKey(testClientID, ClientKey{KID: "extra", Public: &testKeys()[1].PublicKey})
		_ = e.s.RemoveClientKey(testClientID, "extra")
		_ = e.s.Stats()
	})
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	if st := e.s.Stats(); st.TokensIssued != workers*perWorker || st.TokenRequests != workers*perWorker {
		t.Errorf("stats %+v; want %d requests and tokens", st, workers*perWorker)
	}
}

// BenchmarkTokenEndpoint measures one system-user grant through the handler (no network): parse, verify,
// checks, lookup, sign.
func BenchmarkTokenEndpoint(b *testing.B) {
	clock := newTestClock()
	s := New(Options{Now: clock.Now})
	s.SetBaseURL("http://sandbox.test")
	must(b, s.UseSigningKey(testKeys()[3]))
	must(b, s.RegisterClient(Client{ID: testClientID, Org: testOrg, Scopes: []string{testScope},
		Keys: []ClientKey{{KID: testKID, Public: &testKeys()[0].PublicKey}}}))
	seedAltinn(b, s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID}},
		systemUser{ID: testUserID, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: testOrg})
	e := &mpEnv{t: b, s: s, clock: clock, key: testKeys()[0]}
	h := s.Handler()
	grants := make([]string, b.N)
	for i := range grants {
		grants[i] = e.grant()
	}
	b.ResetTimer()
	for i := range b.N {
		form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {grants[i]}}
		req := httptest.NewRequest(http.MethodPost, "/maskinporten/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("grant %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}
