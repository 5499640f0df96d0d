package sandbox

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// enterpriseCertLifetime is how long a test enterprise certificate lives: three years, as Buypass's and
// Commfides' (maskinporten.md §5, D8).
const enterpriseCertLifetime = 3 * 365 * 24 * time.Hour

// enterpriseCA is the sandbox's own certificate authority for test enterprise certificates.
type enterpriseCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// EnterpriseCertificate issues a test enterprise certificate (a TEST virksomhetssertifikat) for pub to
// organisation org, from the sandbox's own test CA, which the sandbox then trusts for x5c grants (TrustCA).
// It returns the chain leaf first, [leaf, CA]. The leaf carries org in serialNumber (SEID 1) and lives
// three years. Only the public key is given: the private key never reaches the sandbox.
func (s *Sandbox) EnterpriseCertificate(org string, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	if !orgRe.MatchString(org) {
		return nil, fmt.Errorf("sandbox: enterprise certificate: organisation number %q is not 9 digits", org)
	}
	if k, ok := pub.(*rsa.PublicKey); !ok || k.N.BitLen() < signingKeyBits {
		return nil, fmt.Errorf("sandbox: enterprise certificate: the key must be RSA with at least %d bits", signingKeyBits)
	}
	ca, err := s.mp.testCA()
	if err != nil {
		return nil, err
	}
	now := s.now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "SANDBOX TEST " + org, Organization: []string{"Sandbox test organisation " + org}, SerialNumber: org, Country: []string{"NO"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(enterpriseCertLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sandbox: enterprise certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{leaf, ca.cert}, nil
}

// testCA returns the sandbox's test CA, made (and trusted) on first use.
func (m *maskinporten) testCA() (*enterpriseCA, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ca != nil {
		return m.ca, nil
	}
	key, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, fmt.Errorf("sandbox: test CA key: %w", err)
	}
	now := m.s.now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Sandbox Test Enterprise CA", Country: []string{"NO"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(2 * enterpriseCertLifetime),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sandbox: test CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if m.trusted == nil {
		m.trusted = x509.NewCertPool()
	}
	m.trusted.AddCert(cert)
	m.ca = &enterpriseCA{cert: cert, key: key}
	return m.ca, nil
}
