package sandbox

import (
	"maps"
	"sync"
	"sync/atomic"
)

// GrantKey names an issued Maskinporten token the way a client's cache key does (maskinporten.md §6), so
// tests can count upstream fetches per key (single flight, refresh ahead).
type GrantKey struct {
	// ClientID is the grant's iss.
	ClientID string
	// Scopes are the granted scopes, sorted and de-duplicated, space-separated.
	Scopes string
	// Org is the 9-digit systemuser_org, "" for a plain token.
	Org string
	// ExternalRef is the externalRef as sent, "" when absent.
	ExternalRef string
	// Resource is the resource (token aud), "" when absent.
	Resource string
}

// Stats are the sandbox's counters since New or ResetStats. Requests are counted when they arrive,
// faulted ones included.
type Stats struct {
	// TokenRequests counts requests to the Maskinporten token endpoint.
	TokenRequests int64
	// TokensIssued counts Maskinporten tokens issued.
	TokensIssued int64
	// GrantsRejected counts token requests answered with an error by the token endpoint itself.
	GrantsRejected int64
	// Exchanges counts requests to the Altinn token exchange.
	Exchanges int64
	// AltinnRequests counts requests to every other Altinn endpoint.
	AltinnRequests int64
	// FaultsInjected counts requests an injected fault applied to.
	FaultsInjected int64
	// Errors counts error replies by code: "MP-nnn" or "AUTH-nnnnn"/"AUTH.VLD-nnnnn", else the OAuth error.
	Errors map[string]int64
	// TokensByKey counts issued Maskinporten tokens per cache key.
	TokensByKey map[GrantKey]int64
	// TokensByKID counts issued Maskinporten tokens per kid of the grant ("" for an x5c grant): which of
	// a client's keys signs, as during a key rotation.
	TokensByKID map[string]int64
	// LastGrant is the grant of the latest token issued (zero before the first).
	LastGrant IssuedGrant
}

// IssuedGrant names the grant behind one issued Maskinporten token, so a test can tell which key a
// token the agent served came from (its jti is the token's).
type IssuedGrant struct {
	// ClientID is the grant's iss.
	ClientID string `json:"client_id"`
	// KID is the grant's kid; "" for an enterprise-certificate (x5c) grant.
	KID string `json:"kid"`
	// TokenJTI is the jti of the access token issued for the grant.
	TokenJTI string `json:"token_jti"`
}

// counters back Stats. The scalar counters are atomics; the maps sit behind mu.
type counters struct {
	tokenRequests, tokensIssued, grantsRejected, exchanges, altinnRequests, faults atomic.Int64

	mu     sync.Mutex
	errors map[string]int64
	byKey  map[GrantKey]int64
	byKID  map[string]int64
	last   IssuedGrant
}

func newCounters() *counters {
	return &counters{errors: map[string]int64{}, byKey: map[GrantKey]int64{}, byKID: map[string]int64{}}
}

// Stats returns a copy of the counters. Each counter is exact; the set is not one atomic snapshot.
func (s *Sandbox) Stats() Stats {
	c := s.stats
	st := Stats{
		TokenRequests:  c.tokenRequests.Load(),
		TokensIssued:   c.tokensIssued.Load(),
		GrantsRejected: c.grantsRejected.Load(),
		Exchanges:      c.exchanges.Load(),
		AltinnRequests: c.altinnRequests.Load(),
		FaultsInjected: c.faults.Load(),
	}
	c.mu.Lock()
	st.Errors = maps.Clone(c.errors)
	st.TokensByKey = maps.Clone(c.byKey)
	st.TokensByKID, st.LastGrant = maps.Clone(c.byKID), c.last
	c.mu.Unlock()
	return st
}

// ResetStats sets every counter to zero.
func (s *Sandbox) ResetStats() {
	c := s.stats
	for _, a := range []*atomic.Int64{&c.tokenRequests, &c.tokensIssued, &c.grantsRejected, &c.exchanges, &c.altinnRequests, &c.faults} {
		a.Store(0)
	}
	c.mu.Lock()
	clear(c.errors)
	clear(c.byKey)
	clear(c.byKID)
	c.last = IssuedGrant{}
	c.mu.Unlock()
}

// count counts one arriving request of target t (TargetMaskinporten means the token endpoint). withFaults
// calls it for every request at the door, so handlers must not call it again.
func (s *Sandbox) count(t Target) {
	switch t {
	case TargetMaskinporten:
		s.stats.tokenRequests.Add(1)
	case TargetExchange:
		s.stats.exchanges.Add(1)
	case TargetAltinn:
		s.stats.altinnRequests.Add(1)
	}
}

// countError counts one error reply by its code ("AUTH-00011", "AUTH.VLD-00002", "MP-303", ...). The
// Altinn half calls it for each error it returns; the Maskinporten half counts its own.
func (s *Sandbox) countError(code string) {
	c := s.stats
	c.mu.Lock()
	c.errors[code]++
	c.mu.Unlock()
}

// rejected counts a grant the token endpoint refused.
func (c *counters) rejected(code string) {
	c.grantsRejected.Add(1)
	c.mu.Lock()
	c.errors[code]++
	c.mu.Unlock()
}

// issued counts a token issued for key, its grant g.
func (c *counters) issued(key GrantKey, g IssuedGrant) {
	c.tokensIssued.Add(1)
	c.mu.Lock()
	c.byKey[key]++
	c.byKID[g.KID]++
	c.last = g
	c.mu.Unlock()
}
