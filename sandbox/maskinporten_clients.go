package sandbox

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Client is a Maskinporten client as registered in Samarbeidsportalen: its id, its organisation (the
// consumer of every token it gets), the scopes it may ask for and its public keys.
type Client struct {
	// ID is the client_id, the grant's iss.
	ID string
	// Org is the client's 9-digit organisation number: the token's consumer and the system vendor.
	Org string
	// Scopes the client may ask for. By default each is granted to Org; see RevokeScopeAccess.
	Scopes []string
	// Keys are the client's public keys, at most 5. A client without keys can only use x5c (TrustCA).
	Keys []ClientKey
}

// ClientKey is one registered public key of a client.
type ClientKey struct {
	// KID is the key id the grant's kid header names: letters, digits and "._-".
	KID string
	// Public is an *rsa.PublicKey of at least 2048 bits.
	Public crypto.PublicKey
	// Expires is when the key stops working (MP-121); zero means one year from registration.
	Expires time.Time
}

// maxClientKeys is Maskinporten's limit of keys per client (D6).
const maxClientKeys = 5

// keyLifetime is the default key expiry: one year from upload (D4 MP-121, D8).
const keyLifetime = 365 * 24 * time.Hour

// client is the registry's copy of a Client.
type client struct {
	id     string
	org    string
	scopes []string
	keys   []ClientKey // Expires always set

	jwksCreated, jwksUpdated time.Time // first and last self-service upload
}

var (
	orgRe = regexp.MustCompile(`^[0-9]{9}$`)
	kidRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	// ErrClientNotFound is returned by the key admin actions for an unknown client id.
	ErrClientNotFound = errors.New("sandbox: Maskinporten client not found")
)

// RegisterClient registers a Maskinporten client. It fails on an id already registered, an org number
// that is not 9 digits, a scope with white space, more than 5 keys or a bad key (see AddClientKey).
func (s *Sandbox) RegisterClient(c Client) error {
	if c.ID == "" || strings.ContainsAny(c.ID, " \t\r\n") {
		return fmt.Errorf("sandbox: register client %q: the client id must be non-empty without white space", c.ID)
	}
	if !orgRe.MatchString(c.Org) {
		return fmt.Errorf("sandbox: register client %q: org %q is not a 9-digit organisation number", c.ID, c.Org)
	}
	for _, sc := range c.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n") {
			return fmt.Errorf("sandbox: register client %q: scope %q must be non-empty without white space", c.ID, sc)
		}
	}
	if len(c.Keys) > maxClientKeys {
		return fmt.Errorf("sandbox: register client %q: %d keys; Maskinporten allows at most %d", c.ID, len(c.Keys), maxClientKeys)
	}
	now := s.now()
	nc := &client{id: c.ID, org: c.Org, scopes: slices.Clone(c.Scopes)}
	for _, k := range c.Keys {
		k, err := checkClientKey(k, now)
		if err != nil {
			return fmt.Errorf("sandbox: register client %q: %w", c.ID, err)
		}
		if slices.ContainsFunc(nc.keys, func(o ClientKey) bool { return o.KID == k.KID }) {
			return fmt.Errorf("sandbox: register client %q: kid %q appears twice; kids must be unique", c.ID, k.KID)
		}
		nc.keys = append(nc.keys, k)
	}
	m := s.mp
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.clients[c.ID]; ok {
		return fmt.Errorf("sandbox: register client %q: already registered; add keys with AddClientKey", c.ID)
	}
	m.clients[c.ID] = nc
	return nil
}

// AddClientKey adds a public key to a client. Re-adding a registered kid with the same public key renews
// its expiry, as re-uploading does in Maskinporten; with another key it fails. At most 5 keys per client.
func (s *Sandbox) AddClientKey(clientID string, k ClientKey) error {
	k, err := checkClientKey(k, s.now())
	if err != nil {
		return fmt.Errorf("sandbox: add key to client %q: %w", clientID, err)
	}
	m := s.mp
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[clientID]
	if !ok {
		return fmt.Errorf("sandbox: add key to client %q: %w; register it first", clientID, ErrClientNotFound)
	}
	for i, o := range c.keys {
		if o.KID != k.KID {
			continue
		}
		if !o.Public.(*rsa.PublicKey).Equal(k.Public) {
			return fmt.Errorf("sandbox: add key to client %q: kid %q is registered with another key; pick a new kid", clientID, k.KID)
		}
		c.keys[i] = k
		return nil
	}
	if len(c.keys) >= maxClientKeys {
		return fmt.Errorf("sandbox: add key to client %q: it has %d keys, the maximum; remove one first", clientID, maxClientKeys)
	}
	c.keys = append(c.keys, k)
	return nil
}

// RemoveClientKey removes the key kid from a client. Tokens already issued stay valid.
func (s *Sandbox) RemoveClientKey(clientID, kid string) error {
	m := s.mp
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[clientID]
	if !ok {
		return fmt.Errorf("sandbox: remove key %q: client %q: %w", kid, clientID, ErrClientNotFound)
	}
	i := slices.IndexFunc(c.keys, func(k ClientKey) bool { return k.KID == kid })
	if i < 0 {
		return fmt.Errorf("sandbox: remove key %q from client %q: no such kid", kid, clientID)
	}
	c.keys = slices.Delete(c.keys, i, i+1)
	return nil
}

// TrustCA makes x5c grants whose chain ends at cert acceptable (§7.3: the optional trusted test CA for
// enterprise certificates). Without it every x5c grant fails MP-120.
func (s *Sandbox) TrustCA(cert *x509.Certificate) {
	m := s.mp
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.trusted == nil {
		m.trusted = x509.NewCertPool()
	}
	m.trusted.AddCert(cert)
}

// RevokeScopeAccess takes scope away from org: grants of that org's clients asking for it then fail
// MP-250, although the scope is still on the client. GrantScopeAccess undoes it.
func (s *Sandbox) RevokeScopeAccess(org, scope string) {
	s.mp.mu.Lock()
	s.mp.denied[org+" "+scope] = true
	s.mp.mu.Unlock()
}

// GrantScopeAccess undoes RevokeScopeAccess. Every scope on a client is granted to its org by default.
func (s *Sandbox) GrantScopeAccess(org, scope string) {
	s.mp.mu.Lock()
	delete(s.mp.denied, org+" "+scope)
	s.mp.mu.Unlock()
}

// SetScopeMaxAge caps the lifetime of tokens carrying scope (the scope's at_max_age); with several scopes
// the lowest cap wins. d <= 0 removes the cap.
func (s *Sandbox) SetScopeMaxAge(scope string, d time.Duration) {
	s.mp.mu.Lock()
	defer s.mp.mu.Unlock()
	if d <= 0 {
		delete(s.mp.maxAge, scope)
		return
	}
	s.mp.maxAge[scope] = d
}

// clientOrg returns the organisation number of a registered client, for the Altinn half.
func (m *maskinporten) clientOrg(clientID string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[clientID]
	if !ok {
		return "", false
	}
	return c.org, true
}

// lookupClient returns a copy of the registered client with id, safe to read without the lock.
func (m *maskinporten) lookupClient(id string) (client, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok {
		return client{}, false
	}
	cp := *c
	cp.scopes = slices.Clone(c.scopes)
	cp.keys = slices.Clone(c.keys)
	return cp, true
}

// ClientKeys returns a client's registered keys with their expiry, as the self-service API lists them.
func (s *Sandbox) ClientKeys(clientID string) ([]ClientKey, error) {
	c, ok := s.mp.lookupClient(clientID)
	if !ok {
		return nil, fmt.Errorf("sandbox: keys of client %q: %w", clientID, ErrClientNotFound)
	}
	return c.keys, nil
}

func checkClientKey(k ClientKey, now time.Time) (ClientKey, error) {
	if !kidRe.MatchString(k.KID) {
		return k, fmt.Errorf("kid %q: use 1-128 letters, digits and ._- (a UUID is best)", k.KID)
	}
	pub, ok := k.Public.(*rsa.PublicKey)
	if !ok || pub == nil {
		return k, fmt.Errorf("key %q is %T; Maskinporten takes RSA public keys", k.KID, k.Public)
	}
	if pub.N.BitLen() < signingKeyBits {
		return k, fmt.Errorf("key %q has %d bits; Maskinporten needs at least %d", k.KID, pub.N.BitLen(), signingKeyBits)
	}
	if k.Expires.IsZero() {
		k.Expires = now.Add(keyLifetime)
	}
	return k, nil
}
