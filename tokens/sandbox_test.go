package tokens_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

const (
	sbOrg    = "310000001"
	sbClient = "client-310000001"
	sbKID    = "kid-1"
	sbScope  = "altinn:x"
	sbSystem = sbOrg + "_agent"
)

type sbClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *sbClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *sbClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestAgainstSandbox runs the real client and cache against the sandbox's strict Maskinporten and its
// Altinn exchange: MP-303 before the system user exists, then system-user, plain and exchanged tokens,
// single flight, and recovery from injected faults with a fresh grant per attempt.
func TestAgainstSandbox(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	clk := &sbClock{t: time.Date(2026, 7, 20, 8, 0, 0, 0, time.UTC)}
	s := sandbox.New(sandbox.Options{Now: clk.Now})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.AddOrganization(sbOrg, "Eksempel AS")
	if err := s.RegisterClient(sandbox.Client{ID: sbClient, Org: sbOrg, Scopes: []string{sbScope},
		Keys: []sandbox.ClientKey{{KID: sbKID, Public: &key.PublicKey}}}); err != nil {
		t.Fatal(err)
	}
	client, err := tokens.NewClient(tokens.ClientOptions{
		Issuer: s.MaskinportenIssuer(), TokenURL: s.MaskinportenTokenURL(), AltinnURL: s.AltinnURL(),
		ClientID: sbClient, KeyID: sbKID, Signer: key, Now: clk.Now,
		Retry: tokens.RetryPolicy{WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	cache := tokens.NewCache(client, tokens.CacheOptions{Now: clk.Now})
	ctx := context.Background()
	sysUser := tokens.Request{Scopes: []string{sbScope}, Org: sbOrg}

	// No system user yet: MP-303, negative-cached.
	_, err = cache.Token(ctx, sysUser)
	if e := tokens.AsError(err); e == nil || e.MPCode != "MP-303" || !strings.Contains(e.Hint(), "agent request status") {
		t.Fatalf("before approval: %v, want MP-303 with a hint", err)
	}
	if _, err2 := cache.Token(ctx, sysUser); err2 == nil || s.Stats().TokenRequests != 1 {
		t.Fatalf("MP-303 not negative-cached: %d token requests", s.Stats().TokenRequests)
	}

	if err := s.SeedSystem(sandbox.SystemSeed{ID: sbSystem, ClientIDs: []string{sbClient},
		Rights: []string{sandbox.ResourceExample}}); err != nil {
		t.Fatal(err)
	}
	userID, err := s.SeedSystemUser(sbSystem, sbOrg, "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cache.Refresh(ctx, sysUser)
	if err != nil {
		t.Fatalf("after approval: %v", err)
	}
	claims, err := s.VerifyAccessToken(tok.AccessToken)
	if err != nil {
		t.Fatalf("sandbox does not accept its own token: %v", err)
	}
	if ad, _ := claims["authorization_details"].([]any); len(ad) != 1 || !strings.Contains(toJSON(ad), userID) {
		t.Errorf("token authorization_details = %v, want system user %s", claims["authorization_details"], userID)
	}
	if !tok.Expiry.Equal(clk.Now().Add(120 * time.Second)) {
		t.Errorf("expiry %s, want now + 120 s", tok.Expiry)
	}

	t.Run("externalRef", func(t *testing.T) {
		// The system user was made without externalRef, so its ref is the org number: sending it matches,
		// another ref does not.
		if _, err := client.Token(ctx, tokens.Request{Scopes: []string{sbScope}, Org: sbOrg, ExternalRef: sbOrg}); err != nil {
			t.Errorf("externalRef = org: %v", err)
		}
		_, err := client.Token(ctx, tokens.Request{Scopes: []string{sbScope}, Org: sbOrg, ExternalRef: "payroll"})
		if e := tokens.AsError(err); e == nil || e.MPCode != "MP-303" {
			t.Errorf("unknown externalRef: %v, want MP-303", err)
		}
	})

	t.Run("plain token", func(t *testing.T) {
		if _, err := client.Token(ctx, tokens.Request{Scopes: []string{sbScope}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("single flight", func(t *testing.T) {
		s.ResetStats()
		r := tokens.Request{Scopes: []string{sbScope, sbScope}, Org: sbOrg, ExternalRef: sbOrg}
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				if _, err := cache.Token(ctx, r); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := s.Stats().TokenRequests; n != 1 {
			t.Errorf("%d token requests for 100 concurrent callers", n)
		}
	})

	t.Run("exchange", func(t *testing.T) {
		alt, err := cache.Token(ctx, tokens.Request{Scopes: []string{sbScope}, Org: sbOrg, Kind: tokens.KindAltinn})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyAltinnToken(alt.AccessToken); err != nil {
			t.Fatalf("sandbox Altinn does not accept the exchanged token: %v", err)
		}
		if d := alt.Expiry.Sub(clk.Now()); d != 30*time.Minute {
			t.Errorf("Altinn token lifetime %s, want 30m from exp", d)
		}
	})

	t.Run("faults", func(t *testing.T) {
		tests := []struct {
			name  string
			fault sandbox.Fault
		}{
			{"503 twice", sandbox.Fault{Status: 503, Times: 2}},
			{"reset twice", sandbox.Fault{Reset: true, Times: 2}},
			{"reply lost after the jti was used", sandbox.Fault{LoseReply: true, Times: 2}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s.ResetStats()
				s.Inject(sandbox.TargetMaskinporten, tt.fault)
				defer s.ClearFaults()
				if _, err := cache.Refresh(ctx, sysUser); err != nil {
					t.Fatalf("not recovered: %v", err)
				}
				st := s.Stats()
				if st.TokenRequests != 3 || st.Errors["MP-012"] != 0 {
					t.Errorf("%d token requests, %d MP-012; want 3 and 0", st.TokenRequests, st.Errors["MP-012"])
				}
			})
		}
	})

	t.Run("clock skew", func(t *testing.T) {
		s.ResetStats()
		s.SetClockOffset(-time.Minute) // Maskinporten's clock is a minute behind ours
		defer s.ClearFaults()
		_, err := client.Token(ctx, sysUser)
		e := tokens.AsError(err)
		if e == nil || !strings.Contains(e.Hint(), "clock") {
			t.Fatalf("error = %v, want a clock hint", err)
		}
		if n := s.Stats().TokenRequests; n != 2 {
			t.Errorf("%d token requests, want 2 (one retry with a new grant)", n)
		}
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
