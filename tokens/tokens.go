// Package tokens gets Maskinporten system-user tokens: it builds and signs the JWT grant through a
// crypto.Signer, posts it to Maskinporten (a fresh grant on every attempt), caches tokens per key with one
// upstream fetch per key at a time, refreshes them ahead of expiry, and exchanges them for Altinn tokens.
//
// It imports none of the project's packages: the key comes in as a crypto.Signer, the HTTP client and the
// clock as fields. The keystore, config and sandbox packages must never be imported here (tests may use
// sandbox), and keystore, config and sandbox must not import tokens.
//
// Composition: a Client makes one fresh upstream call per Token (a new signed grant per HTTP attempt,
// retries bounded by the caller's context); a Cache wraps any Source and adds per-key caching, single
// flight, refresh ahead and a short negative cache. For KindAltinn the Cache takes the Maskinporten token
// from itself and exchanges it through the Client, so both kinds share one Maskinporten fetch. Upstream
// failures are *Error values that keep Maskinporten's and Altinn's codes and say what to do.
package tokens

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Kind is the kind of token a Request asks for.
type Kind string

const (
	// KindMaskinporten is the Maskinporten access token itself.
	KindMaskinporten Kind = "maskinporten"
	// KindAltinn is a Maskinporten token exchanged for an Altinn token
	// (GET {altinn}/authentication/api/v1/exchange/maskinporten).
	KindAltinn Kind = "altinn"
)

// Valid reports whether k is a known kind. The empty Kind counts as KindMaskinporten.
func (k Kind) Valid() bool { return k == "" || k == KindMaskinporten || k == KindAltinn }

// Request names one token. Together with the issuer and client id of the Source it is the cache key.
type Request struct {
	// Scopes asked for; at least one. Order and duplicates do not matter (see Normalize).
	Scopes []string
	// Org is the 9-digit organisation number that owns the system user. Empty asks for a plain
	// Maskinporten token without authorization_details (the registry uses one for its own calls).
	Org string
	// ExternalRef tells several system users of one organisation apart; empty means none is sent.
	ExternalRef string
	// Resource asks for an audience-restricted token (RFC 8707); empty means none.
	Resource string
	// Kind of token; empty means KindMaskinporten.
	Kind Kind
}

// Normalize returns r with scopes sorted and de-duplicated and an empty Kind set to KindMaskinporten.
func (r Request) Normalize() Request {
	s := slices.Clone(r.Scopes)
	slices.Sort(s)
	r.Scopes = slices.Compact(s)
	if r.Kind == "" {
		r.Kind = KindMaskinporten
	}
	return r
}

// ScopeString is the space-separated scope list of the normalised request.
func (r Request) ScopeString() string { return strings.Join(r.Normalize().Scopes, " ") }

// String describes the request for logs and errors. It holds nothing secret.
func (r Request) String() string {
	n := r.Normalize()
	s := fmt.Sprintf("%s token scope=%q", n.Kind, n.ScopeString())
	if n.Org != "" {
		s += " systemuser_org=0192:" + n.Org
	}
	if n.ExternalRef != "" {
		s += " externalRef=" + n.ExternalRef
	}
	if n.Resource != "" {
		s += " resource=" + n.Resource
	}
	return s
}

// Token is an access token with its expiry. Its formatting methods never print the token value: use
// the AccessToken field explicitly where it must go on the wire.
type Token struct {
	// AccessToken is the bearer token. Secret: never log it.
	AccessToken string
	// TokenType is "Bearer".
	TokenType string
	// Scope is the scope string the upstream granted (informational).
	Scope string
	// Expiry is when the token stops being valid, computed from the time the request was sent plus
	// expires_in (Maskinporten) or from the exp claim (Altinn exchange, which has no expires_in).
	Expiry time.Time
}

// ExpiresIn is the whole seconds left at now, never negative.
func (t Token) ExpiresIn(now time.Time) int64 {
	d := t.Expiry.Sub(now)
	if d < 0 {
		return 0
	}
	return int64(d / time.Second)
}

// String prints the token without its value.
func (t Token) String() string {
	return fmt.Sprintf("Token{AccessToken:[redacted] TokenType:%s Scope:%q Expiry:%s}", t.TokenType, t.Scope,
		t.Expiry.Format(time.RFC3339))
}

// GoString prints the token without its value, for %#v.
func (t Token) GoString() string { return t.String() }

// Format makes every fmt verb print String, so no verb reveals the value.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.String())) }

// LogValue keeps the value out of slog output.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("token_type", t.TokenType), slog.String("scope", t.Scope),
		slog.Time("expiry", t.Expiry))
}

// Source hands out tokens. Implementations are safe for concurrent use; a cancelled ctx ends the
// caller's wait, not necessarily the work shared with other callers.
type Source interface {
	Token(ctx context.Context, r Request) (Token, error)
}
