package sandbox

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// checkSignature finds the grant's key (kid) or certificate (x5c) and verifies the signature. It returns
// the token's client_amr.
func (m *maskinporten) checkSignature(c client, t *jws, now time.Time) (string, *grantError) {
	if t.hasX5c {
		return m.checkX5C(c, t, now)
	}
	i := slices.IndexFunc(c.keys, func(k ClientKey) bool { return k.KID == t.kid })
	if i < 0 {
		return "", invalidGrant("MP-124", "Unknown kid %q: it is not registered on client %s", t.kid, c.id)
	}
	k := c.keys[i]
	if !now.Before(k.Expires) {
		return "", invalidGrant("MP-121", "Expired key: kid %q expired %s; upload the key again or rotate", t.kid, k.Expires.UTC().Format(time.RFC3339))
	}
	if !t.verify(k.Public.(*rsa.PublicKey)) {
		return "", invalidGrant("MP-124", "Signature verification failed with kid %q", t.kid)
	}
	return "private_key_jwt", nil
}

// ntrnoOID is organizationIdentifier (2.5.4.97); SEID 2 certificates carry "NTRNO-<orgno>" there.
var ntrnoOID = []int{2, 5, 4, 97}

// checkX5C verifies an enterprise-certificate grant: x5c an array of base64 DER certificates whose chain
// ends at a trusted test CA, the leaf's organisation = the client's (MP-122), signed by the leaf key.
func (m *maskinporten) checkX5C(c client, t *jws, now time.Time) (string, *grantError) {
	if len(c.keys) > 0 {
		return "", invalidGrant("MP-123", "client %s has registered keys: send kid, not x5c", c.id)
	}
	var chain []string
	if err := json.Unmarshal(t.x5c, &chain); err != nil || len(chain) == 0 {
		return "", invalidGrant("MP-123", "Invalid x5c: it must be a JSON array of base64 DER certificates")
	}
	certs := make([]*x509.Certificate, 0, len(chain))
	for i, s := range chain {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", invalidGrant("MP-123", "Invalid x5c: certificate %d is not base64", i)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return "", invalidGrant("MP-123", "Invalid x5c: certificate %d does not parse", i)
		}
		certs = append(certs, cert)
	}
	m.mu.Lock()
	var roots *x509.CertPool
	if m.trusted != nil {
		roots = m.trusted.Clone()
	}
	m.mu.Unlock()
	if roots == nil {
		return "", invalidGrant("MP-120", "Invalid certificate: no trusted certificate authority (a PROD certificate in TEST?)")
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	leaf := certs[0]
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return "", invalidGrant("MP-120", "Invalid certificate: %v", err)
	}
	if org := certOrg(leaf); org != c.org {
		return "", invalidGrant("MP-122", "certificate organisation number %q is not the client's organisation %s", org, c.org)
	}
	pub, ok := leaf.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() < signingKeyBits {
		return "", invalidGrant("MP-120", "Invalid certificate: the key must be RSA with at least %d bits", signingKeyBits)
	}
	if !t.verify(pub) {
		return "", invalidGrant("MP-124", "Signature verification failed with the x5c certificate")
	}
	return "virksomhetssertifikat", nil
}

// certOrg reads a Norwegian enterprise certificate's organisation number: serialNumber (SEID 1) or
// organizationIdentifier "NTRNO-<orgno>" (SEID 2).
func certOrg(cert *x509.Certificate) string {
	if orgRe.MatchString(cert.Subject.SerialNumber) {
		return cert.Subject.SerialNumber
	}
	for _, n := range cert.Subject.Names {
		if v, ok := n.Value.(string); ok && n.Type.Equal(ntrnoOID) && strings.HasPrefix(v, "NTRNO-") {
			return strings.TrimPrefix(v, "NTRNO-")
		}
	}
	return ""
}

// checkTimes applies maskinporten.md §2.2: iat within 10 s of now, exp after now and after iat, and
// exp − iat at most 120 s.
func checkTimes(c *grantClaims, now time.Time) *grantError {
	switch {
	case c.iat.After(now.Add(grantClockSkew)):
		return invalidGrant("MP-130", "Issue time is after now: iat is %s ahead of the server clock", c.iat.Sub(now).Round(time.Second))
	case !c.exp.After(now):
		return invalidGrant("MP-130", "JWT is expired")
	case c.iat.Before(now.Add(-grantClockSkew)):
		return invalidGrant("MP-130", "Issue time is more than %s before now: build each grant just before sending it", grantClockSkew)
	case !c.exp.After(c.iat):
		return invalidGrant("MP-130", "JWT exp is not after iat")
	case c.exp.Sub(c.iat) > grantMaxLifetime:
		return invalidGrant("MP-130", "JWT lifetime exp - iat is %s; at most %s is allowed", c.exp.Sub(c.iat), grantMaxLifetime)
	}
	return nil
}

// consumeJTI records jti for the client and fails MP-012 if it was used in the last 130 s.
func (m *maskinporten) consumeJTI(clientID, jti string, now time.Time) *grantError {
	key := clientID + "\x00" + jti
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.jtiOrder) > 0 && !m.jtiOrder[0].until.After(now) {
		e := m.jtiOrder[0]
		m.jtiOrder = m.jtiOrder[1:]
		if u, ok := m.jtis[e.key]; ok && !u.After(now) {
			delete(m.jtis, e.key)
		}
	}
	if u, ok := m.jtis[key]; ok && u.After(now) {
		return invalidGrant("MP-012", "Grant is used before: send a new grant with a fresh jti on every attempt")
	}
	until := now.Add(jtiMemory)
	m.jtis[key] = until
	m.jtiOrder = append(m.jtiOrder, jtiEntry{key: key, until: until})
	return nil
}

// checkScopes splits the scope claim and checks each scope: on the client (MP-200), granted to the
// client's org (MP-250). It returns the scopes de-duplicated, in the order asked.
func (m *maskinporten) checkScopes(c client, scope string) ([]string, *grantError) {
	var scopes, bad []string
	for _, s := range strings.Fields(scope) {
		if slices.Contains(scopes, s) {
			continue
		}
		scopes = append(scopes, s)
		if !slices.Contains(c.scopes, s) {
			bad = append(bad, s)
		}
	}
	if len(scopes) == 0 {
		return nil, newGrantError(400, "invalid_scope", "MP-200", "Invalid scopes: the grant asks for no scope")
	}
	if len(bad) > 0 {
		return nil, newGrantError(400, "invalid_scope", "MP-200", "Invalid scopes: "+strings.Join(bad, " ")+" not registered on client "+c.id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range scopes {
		if m.denied[c.org+" "+s] {
			return nil, newGrantError(400, "invalid_scope", "MP-250", "Consumer "+c.org+" has not been granted access to the scope "+s)
		}
	}
	return scopes, nil
}

// lifetime is the token lifetime: Options.TokenLifetime, capped by each scope's max age, at least 1 s.
func (m *maskinporten) lifetime(scopes []string) time.Duration {
	d := m.s.opts.TokenLifetime
	m.mu.Lock()
	for _, s := range scopes {
		if a, ok := m.maxAge[s]; ok && a < d {
			d = a
		}
	}
	m.mu.Unlock()
	return max(d.Truncate(time.Second), time.Second)
}

var uriSchemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// checkResource reads resource (RFC 8707): absent, a string, or a one-element array of a string; the
// value must be an absolute URI without fragment.
func checkResource(raw json.RawMessage) (string, *grantError) {
	if raw == nil {
		return "", nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil || string(raw) == "null" {
		var arr []string
		if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 1 {
			return "", badAssertion("resource must be a string or an array of one string")
		}
		one = arr[0]
	}
	u, err := url.Parse(one)
	if err != nil || !uriSchemeRe.MatchString(u.Scheme) || strings.ContainsAny(one, "# \t\r\n") {
		return "", badAssertion("resource must be an absolute URI without fragment")
	}
	return one, nil
}
