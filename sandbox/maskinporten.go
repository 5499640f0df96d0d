package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"time"
)

// The Maskinporten half of the sandbox (maskinporten.md §7). Files:
//
//	maskinporten.go         state, routes, metadata, JWKS, signing keys, verifyToken, Info
//	maskinporten_clients.go the client registry and its admin actions (RegisterClient, AddClientKey, ...)
//	maskinporten_grant.go   the strict JWS/claims parser of the grant (assertion)
//	maskinporten_checks.go  the key, signature, time, jti, scope and resource checks
//	maskinporten_rar.go     authorization_details (urn:altinn:systemuser) checks and the system-user lookup
//	maskinporten_token.go   the /token endpoint: transport checks, rule order, the issued token
//	maskinporten_errors.go  the error reply: OAuth error + MP code + correlation id

const (
	jwtBearerGrant   = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	systemUserType   = "urn:altinn:systemuser"
	orgAuthority     = "iso6523-actorid-upis"
	signingKeyBits   = 2048
	grantMaxLifetime = 120 * time.Second // exp − iat limit (D1)
	grantClockSkew   = 10 * time.Second  // |now − iat| limit (D1)
	jtiMemory        = 130 * time.Second // §7.7: remember each jti at least this long
	tokenClockSkew   = 10 * time.Second  // verifyToken's exp skew (altinn-api.md §1)
)

// maskinporten is the Maskinporten half of the sandbox: clients, their keys, used jtis and the sandbox's
// own signing keys. All fields behind mu.
type maskinporten struct {
	s *Sandbox

	mu        sync.Mutex
	clients   map[string]*client       // by client id
	trusted   *x509.CertPool           // test CAs for x5c grants; nil = none trusted
	denied    map[string]bool          // org+" "+scope revoked from the org (MP-250)
	maxAge    map[string]time.Duration // per-scope at_max_age
	jtis      map[string]time.Time     // client id+"\x00"+jti → forget after
	jtiOrder  []jtiEntry               // jtis in insertion order, for pruning
	sigKeys   []signingKey             // newest first; at most two published
	keyErr    error                    // a failed lazy key generation, reported on every use
	generated bool

	certOnlyAdmin bool          // the self-service API takes only certificate-authenticated admin tokens
	ca            *enterpriseCA // issues test enterprise certificates (EnterpriseCertificate); nil until used
}

type jtiEntry struct {
	key   string
	until time.Time
}

// signingKey is one of the sandbox's own token signing keys.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

func newMaskinporten(s *Sandbox) *maskinporten {
	return &maskinporten{
		s:       s,
		clients: map[string]*client{},
		denied:  map[string]bool{},
		maxAge:  map[string]time.Duration{},
		jtis:    map[string]time.Time{},

		certOnlyAdmin: true, // Digdir's documented rule (maskinporten.md §6.2)
	}
}

func (m *maskinporten) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /maskinporten/.well-known/oauth-authorization-server", m.metadata)
	mux.HandleFunc("GET /maskinporten/jwk", m.jwks)
	mux.HandleFunc("/maskinporten/token", m.token)
	m.selfServiceRoutes(mux)
}

// metadata serves RFC 8414 authorization server metadata with the fields of maskinporten.md §1.
func (m *maskinporten) metadata(w http.ResponseWriter, r *http.Request) {
	iss := m.s.MaskinportenIssuer()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        m.s.MaskinportenTokenURL(),
		"jwks_uri":                              iss + "jwk",
		"grant_types_supported":                 []string{jwtBearerGrant},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "RS384", "RS512"},
		"authorization_details_types_supported":            []string{systemUserType, "urn:altinn:consent"},
	})
}

// jwks serves the public signing keys, newest first.
func (m *maskinporten) jwks(w http.ResponseWriter, r *http.Request) {
	keys, err := m.signingKeys()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
		return
	}
	out := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		pub := &k.priv.PublicKey
		out = append(out, map[string]string{
			"kty": "RSA",
			"kid": k.kid,
			"alg": "RS256",
			"use": "sig",
			"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

// signingKeys returns the published signing keys, newest first, generating the first one on first use.
func (m *maskinporten) signingKeys() ([]signingKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.generated {
		m.generated = true
		k, err := newSigningKey()
		if err != nil {
			m.keyErr = err
		} else {
			m.sigKeys = []signingKey{k}
		}
	}
	if m.keyErr != nil {
		return nil, m.keyErr
	}
	return append([]signingKey(nil), m.sigKeys...), nil
}

func newSigningKey() (signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return signingKey{}, fmt.Errorf("sandbox: generate a Maskinporten signing key: %w", err)
	}
	return signingKey{kid: randomB64(16), priv: priv}, nil
}

// RotateSigningKey makes a new token signing key: from now on /jwk publishes two keys, the new one first,
// and the new one signs. The key before the previous one is dropped, so tokens it signed stop verifying.
func (s *Sandbox) RotateSigningKey() {
	if _, err := s.mp.signingKeys(); err != nil { // make sure the first key exists, so two are published
		s.log.Error("sandbox: rotate Maskinporten signing key", "err", err)
		return
	}
	k, err := newSigningKey()
	if err != nil {
		s.log.Error("sandbox: rotate Maskinporten signing key", "err", err)
		return
	}
	m := s.mp
	m.mu.Lock()
	m.sigKeys = append([]signingKey{k}, m.sigKeys[0])
	m.mu.Unlock()
}

// UseSigningKey makes priv (RSA, at least 2048 bits) the only token signing key, under a new random kid.
// Tests that start many sandboxes pass one pre-generated key instead of paying for a key generation in
// each; RotateSigningKey still generates fresh keys.
func (s *Sandbox) UseSigningKey(priv *rsa.PrivateKey) error {
	if priv == nil || priv.N.BitLen() < signingKeyBits {
		return fmt.Errorf("sandbox: the Maskinporten signing key must be RSA with at least %d bits", signingKeyBits)
	}
	m := s.mp
	m.mu.Lock()
	defer m.mu.Unlock()
	m.generated, m.keyErr = true, nil
	m.sigKeys = []signingKey{{kid: randomB64(16), priv: priv}}
	return nil
}

// signJWT signs claims with the newest signing key: RS256, header {kid, alg} only.
func (m *maskinporten) signJWT(claims any) (string, error) {
	keys, err := m.signingKeys()
	if err != nil {
		return "", err
	}
	k := keys[0]
	hdr, err := json.Marshal(struct {
		Kid string `json:"kid"`
		Alg string `json:"alg"`
	}{k.kid, "RS256"})
	if err != nil {
		return "", fmt.Errorf("sandbox: encode token header: %w", err)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sandbox: encode token claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sandbox: sign token: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// errBadToken is wrapped by every verifyToken failure.
var errBadToken = errors.New("not a valid sandbox Maskinporten token")

// verifyToken verifies an access token this sandbox issued: RS256 with one of the published keys, iss = the
// issuer, exp not more than 10 s in the past, iat not more than 10 s in the future. It returns the claims
// (numbers as float64). The error never contains the token.
func (m *maskinporten) verifyToken(raw string) (map[string]any, error) {
	t, perr := parseJWS(raw)
	if perr != nil {
		return nil, fmt.Errorf("sandbox: %w: %s", errBadToken, perr.text)
	}
	if t.alg != "RS256" || t.kid == "" || t.hasX5c {
		return nil, fmt.Errorf("sandbox: %w: header must be {kid, alg: RS256}", errBadToken)
	}
	keys, err := m.signingKeys()
	if err != nil {
		return nil, err
	}
	var pub *rsa.PublicKey
	for _, k := range keys {
		if k.kid == t.kid {
			pub = &k.priv.PublicKey
		}
	}
	if pub == nil {
		return nil, fmt.Errorf("sandbox: %w: unknown kid %q (rotated out?)", errBadToken, t.kid)
	}
	if !t.verify(pub) {
		return nil, fmt.Errorf("sandbox: %w: bad signature", errBadToken)
	}
	var claims map[string]any
	if err := json.Unmarshal(t.payload, &claims); err != nil {
		return nil, fmt.Errorf("sandbox: %w: claims: %v", errBadToken, err)
	}
	if iss, _ := claims["iss"].(string); iss != m.s.MaskinportenIssuer() {
		return nil, fmt.Errorf("sandbox: %w: iss %q is not %q", errBadToken, iss, m.s.MaskinportenIssuer())
	}
	now := m.s.now()
	exp, ok := claims["exp"].(float64)
	if !ok || now.After(time.Unix(int64(exp), 0).Add(tokenClockSkew)) {
		return nil, fmt.Errorf("sandbox: %w: expired or no exp", errBadToken)
	}
	if iat, ok := claims["iat"].(float64); !ok || time.Unix(int64(iat), 0).After(now.Add(tokenClockSkew)) {
		return nil, fmt.Errorf("sandbox: %w: issued in the future or no iat", errBadToken)
	}
	return claims, nil
}

// VerifyAccessToken verifies a Maskinporten access token issued by this sandbox (signature against the
// published keys, issuer, expiry with 10 s skew) and returns its claims. For tests and the demo.
func (s *Sandbox) VerifyAccessToken(raw string) (map[string]any, error) { return s.mp.verifyToken(raw) }

// Info describes where the sandbox serves, for `agent sandbox` to print: base, Maskinporten issuer (the
// grant aud), token endpoint, metadata, JWKS and the Altinn platform base URL.
func (s *Sandbox) Info() map[string]string {
	iss := s.MaskinportenIssuer()
	return map[string]string{
		"base":                s.URL(),
		"maskinporten_issuer": iss,
		"maskinporten_token":  s.MaskinportenTokenURL(),
		"maskinporten_meta":   iss + ".well-known/oauth-authorization-server",
		"maskinporten_jwks":   iss + "jwk",
		"altinn":              s.AltinnURL(),
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// randomB64 returns n random bytes, base64url without padding.
func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
