package tokens

import (
	"context"
	"crypto"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestTokenRequestAndExpiryFromSendTime(t *testing.T) {
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	f.onRequest = func() { clk.Advance(5 * time.Second) } // a slow reply: expiry still counts from the send
	c := testClient(t, f)
	sent := clk.Now()
	tok := mustToken(t, c, sysReq)
	if want := sent.Add(120 * time.Second); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %s, want send time + expires_in = %s", tok.Expiry, want)
	}
	if tok.TokenType != "Bearer" || tok.Scope != "altinn:x" {
		t.Errorf("token = %v", tok)
	}
	gs := f.recorded()
	if len(gs) != 1 || gs[0].Err != "" {
		t.Fatalf("fake saw %d requests, first refused: %q", len(gs), gs[0].Err)
	}
	if gs[0].Accept != "application/json" {
		t.Errorf("Accept = %q", gs[0].Accept)
	}
	if got := f.issuedTokens(); tok.AccessToken != got[0] {
		t.Error("access token is not the one issued")
	}
	if c.Issuer() != f.issuer || c.ClientID() != f.clientID {
		t.Errorf("Issuer/ClientID = %q/%q", c.Issuer(), c.ClientID())
	}
}

func TestRetriesSendAFreshGrantEachAttempt(t *testing.T) {
	tests := []struct {
		name    string
		replies []reply
	}{
		{"503", []reply{status(503, "down"), status(503, "down")}},
		{"500 502", []reply{status(500, ""), status(502, "")}},
		{"504 408", []reply{status(504, ""), status(408, "")}},
		{"429 with Retry-After", []reply{oauthError(429, "slow_down", "", "Retry-After", "0"),
			oauthError(429, "slow_down", "", "Retry-After", "0")}},
		{"connection reset", []reply{reset, reset}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			f.push(tt.replies...)
			mustToken(t, testClient(t, f), sysReq)
			gs := f.recorded()
			if len(gs) != 3 {
				t.Fatalf("upstream saw %d requests, want 3", len(gs))
			}
			for _, g := range gs {
				if g.Err != "" {
					t.Errorf("fake refused a grant: %s", g.Err)
				}
			}
			assertDistinct(t, "jti per attempt", jtisOf(gs))
			assertDistinct(t, "assertion per attempt", []string{gs[0].Raw, gs[1].Raw, gs[2].Raw})
		})
	}
}

func TestNoRetryOnOther4xx(t *testing.T) {
	tests := []struct {
		name   string
		reply  reply
		status int
		mp     string
	}{
		{"invalid_grant MP-303", oauthError(400, "invalid_altinn_customer_configuration", "MP-303 no system user"), 400, "MP-303"},
		{"invalid_grant MP-100", oauthError(400, "invalid_grant", "MP-100 client not found (id 7)"), 400, "MP-100"},
		{"invalid_scope", oauthError(400, "invalid_scope", "MP-200 scope not on client"), 400, "MP-200"},
		{"401", status(401, ""), 401, ""},
		{"403 MP-250", oauthError(403, "access_denied", "MP-250 org lacks scope"), 403, "MP-250"},
		{"404", status(404, "not found"), 404, ""},
		{"501", status(501, ""), 501, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			f.push(tt.reply, tt.reply, tt.reply)
			_, err := testClient(t, f).Token(context.Background(), sysReq)
			e := AsError(err)
			if e == nil {
				t.Fatalf("error %v is not *Error", err)
			}
			if e.StatusCode != tt.status || e.MPCode != tt.mp || e.Temporary {
				t.Errorf("Error = %+v", *e)
			}
			if n := f.requests(); n != 1 {
				t.Errorf("upstream saw %d requests, want 1 (no retry)", n)
			}
		})
	}
}

func TestClockAndJTIErrorsGetOneNewGrant(t *testing.T) {
	mp012 := oauthError(400, "invalid_grant", "MP-012 Grant is used before")
	mp130 := oauthError(400, "invalid_grant", "MP-130 JWT is expired")
	issue := oauthError(400, "invalid_grant", "Issue time is after now")
	tests := []struct {
		name     string
		replies  []reply
		requests int
		wantErr  string // MP code of the final error; "" means success
	}{
		{"MP-012 once", []reply{mp012}, 2, ""},
		{"Issue time once", []reply{issue}, 2, ""},
		{"MP-130 twice", []reply{mp130, mp130}, 2, "MP-130"},
		{"MP-012 twice", []reply{mp012, mp012, mp012}, 2, "MP-012"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			f.push(tt.replies...)
			_, err := testClient(t, f).Token(context.Background(), sysReq)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Token: %v", err)
			case tt.wantErr != "" && (AsError(err) == nil || AsError(err).MPCode != tt.wantErr):
				t.Fatalf("error = %v, want %s", err, tt.wantErr)
			}
			gs := f.recorded()
			if len(gs) != tt.requests {
				t.Fatalf("upstream saw %d requests, want %d", len(gs), tt.requests)
			}
			assertDistinct(t, "jti", jtisOf(gs))
		})
	}
}

// syncClient is a client for use inside a synctest bubble with f's server outside it: no keep-alive
// connections, so no goroutine of the bubble stays blocked on the network while time should advance.
func syncClient(t *testing.T, f *fakeMP, p RetryPolicy) *Client {
	return testClient(t, f, func(o *ClientOptions) {
		o.Now = nil
		o.Retry = p
		o.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: refuseRedirect}
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	tests := []struct {
		name   string
		header func() string
		want   time.Duration
	}{
		{"seconds", func() string { return "7" }, 7 * time.Second},
		{"HTTP date", func() string { return time.Now().Add(4 * time.Second).UTC().Format(http.TimeFormat) }, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, nil) // the server runs outside the bubble: no iat check against its clock
			synctest.Test(t, func(t *testing.T) {
				f.push(status(429, "", "Retry-After", tt.header()))
				c := syncClient(t, f, RetryPolicy{Max: 3, WaitMin: time.Millisecond, WaitMax: time.Millisecond})
				start := time.Now()
				mustToken(t, c, sysReq)
				if got := time.Since(start); got < tt.want || got > tt.want+time.Second {
					t.Errorf("waited %s between attempts, want %s (Retry-After)", got, tt.want)
				}
			})
			if n := f.requests(); n != 2 {
				t.Errorf("upstream saw %d requests, want 2", n)
			}
		})
	}
}

func TestContextDeadlineBoundsRetries(t *testing.T) {
	f := newFakeMP(t, nil)
	f.setAlways(status(503, "down"))
	synctest.Test(t, func(t *testing.T) {
		c := syncClient(t, f, RetryPolicy{Max: 1000, WaitMin: 100 * time.Millisecond, WaitMax: time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Token(ctx, sysReq)
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("Token took %s, past the 3s deadline", elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error = %v, want DeadlineExceeded", err)
		}
		if e := AsError(err); e == nil || e.StatusCode != 503 || !e.Temporary {
			t.Errorf("error = %#v, want a temporary *Error keeping the last status 503", e)
		}
	})
	if n := f.requests(); n < 3 || n > 30 {
		t.Errorf("upstream saw %d requests in 3s of 0.1–1s backoff", n)
	}
}

func TestRetryAfterBeyondDeadlineOrMaxEndsAtOnce(t *testing.T) {
	tests := []struct {
		name     string
		after    string
		deadline time.Duration
		want     time.Duration
	}{
		{"beyond deadline", "120", 10 * time.Second, 120 * time.Second},
		{"beyond 30s cap", "3600", 0, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			f.setAlways(oauthError(503, "server_error", "maintenance", "Retry-After", tt.after))
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			_, err := testClient(t, f).Token(ctx, sysReq)
			e := AsError(err)
			if e == nil || e.RetryAfter != tt.want || !e.Temporary || e.StatusCode != 503 || e.Code != "server_error" {
				t.Fatalf("error = %v, want temporary 503 with RetryAfter %s", err, tt.want)
			}
			if n := f.requests(); n != 1 {
				t.Errorf("upstream saw %d requests, want 1", n)
			}
		})
	}
}

type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("keyring locked")
}

func TestSignerFailureIsNotRetried(t *testing.T) {
	f := newFakeMP(t, time.Now)
	c := testClient(t, f, func(o *ClientOptions) { o.Signer = failingSigner{testKey()} })
	_, err := c.Token(context.Background(), sysReq)
	if err == nil || !strings.Contains(err.Error(), "keyring locked") || !strings.Contains(err.Error(), "sign grant") {
		t.Fatalf("error = %v", err)
	}
	if f.requests() != 0 {
		t.Errorf("a request went out without a grant")
	}
}

func TestBadTokenRepliesAreTypedErrors(t *testing.T) {
	big := strings.Repeat("x", maxBody+10)
	tests := []struct {
		name, body, want string
		code             int
	}{
		{"no access_token", `{"token_type":"Bearer","expires_in":120}`, "no access_token", 200},
		{"no expires_in", `{"access_token":"SECRETVALUE","token_type":"Bearer"}`, "expires_in", 200},
		{"other token type", `{"access_token":"SECRETVALUE","token_type":"DPoP","expires_in":120}`, "DPoP", 200},
		{"not JSON", `SECRETVALUE`, "not JSON", 200},
		{"huge reply", big, "larger than", 200},
		{"huge error", big, "larger than", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			f.push(status(tt.code, tt.body))
			_, err := testClient(t, f).Token(context.Background(), sysReq)
			if AsError(err) == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want *Error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("error quotes the reply body: %v", err)
			}
		})
	}
}

func TestStringExpiresInAccepted(t *testing.T) {
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	f.push(status(200, `{"access_token":"t","token_type":"bearer","expires_in":"119"}`))
	tok := mustToken(t, testClient(t, f), sysReq)
	if want := clk.Now().Add(119 * time.Second); !tok.Expiry.Equal(want) || tok.TokenType != "Bearer" {
		t.Errorf("token = %v, want expiry %s", tok, want)
	}
}

func TestInvalidRequestsRefusedBeforeSigning(t *testing.T) {
	tests := []struct {
		name string
		r    Request
		want string
	}{
		{"no scope", Request{Org: "310000001"}, "no scope"},
		{"scope with space", Request{Scopes: []string{"a b"}}, "spaces"},
		{"short org", Request{Scopes: []string{"a"}, Org: "12345"}, "9 digits"},
		{"externalRef without org", Request{Scopes: []string{"a"}, ExternalRef: "x"}, "without an organisation"},
		{"bad kind", Request{Scopes: []string{"a"}, Kind: "id-porten"}, "unknown token kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			for _, s := range []Source{testClient(t, f), NewCache(testClient(t, f), CacheOptions{})} {
				if _, err := s.Token(context.Background(), tt.r); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%T: error = %v, want %q", s, err, tt.want)
				}
			}
			if f.requests() != 0 {
				t.Error("an invalid request reached upstream")
			}
		})
	}
}
