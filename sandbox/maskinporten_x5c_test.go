package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/http"
	"testing"
	"time"
)

// testCA is a throwaway enterprise-certificate CA.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, now time.Time) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Sandbox Test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return &testCA{cert: cert, key: key}
}

// leaf issues an enterprise certificate for pub; subject sets the organisation number.
func (ca *testCA) leaf(t *testing.T, pub *rsa.PublicKey, subject pkix.Name, notAfter time.Time) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: subject,
		NotBefore: ca.cert.NotBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	must(t, err)
	return base64.StdEncoding.EncodeToString(der)
}

// TestX5C covers enterprise-certificate grants (§2.1, §7.3, §7.5): trusted chain, the certificate's org
// against the client's (MP-122), untrusted or expired chain (MP-120), x5c shape (MP-123), signature (MP-124).
func TestX5C(t *testing.T) {
	const certClient = "cert-client"
	leafKey, otherKey := testKeys()[2], testKeys()[1]
	cases := []struct {
		name   string
		trust  bool
		x5c    func(e *mpEnv, ca *testCA) any
		key    *rsa.PrivateKey
		status int
		err    string
		code   string
	}{
		{name: "serialNumber org", trust: true, key: leafKey, status: http.StatusOK, x5c: func(e *mpEnv, ca *testCA) any {
			return []string{ca.leaf(t, &leafKey.PublicKey, pkix.Name{CommonName: "ACME", SerialNumber: testOrg}, e.clock.Now().Add(time.Hour))}
		}},
		{name: "organizationIdentifier NTRNO", trust: true, key: leafKey, status: http.StatusOK, x5c: func(e *mpEnv, ca *testCA) any {
			name := pkix.Name{CommonName: "ACME", ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier(ntrnoOID), Value: "NTRNO-" + testOrg}}}
			return []string{ca.leaf(t, &leafKey.PublicKey, name, e.clock.Now().Add(time.Hour))}
		}},
		{name: "no trusted CA", key: leafKey, status: 400, err: "invalid_grant", code: "MP-120", x5c: func(e *mpEnv, ca *testCA) any {
			return []string{ca.leaf(t, &leafKey.PublicKey, pkix.Name{SerialNumber: testOrg}, e.clock.Now().Add(time.Hour))}
		}},
		{name: "certificate expired", trust: true, key: leafKey, status: 400, err: "invalid_grant", code: "MP-120", x5c: func(e *mpEnv, ca *testCA) any {
			return []string{ca.leaf(t, &leafKey.PublicKey, pkix.Name{SerialNumber: testOrg}, e.clock.Now().Add(-time.Minute))}
		}},
		{name: "another org's certificate", trust: true, key: leafKey, status: 400, err: "invalid_grant", code: "MP-122", x5c: func(e *mpEnv, ca *testCA) any {
			return []string{ca.leaf(t, &leafKey.PublicKey, pkix.Name{SerialNumber: "310000002"}, e.clock.Now().Add(time.Hour))}
		}},
		{name: "x5c a string", trust: true, key: leafKey, status: 400, err: "invalid_grant", code: "MP-123", x5c: func(e *mpEnv, ca *testCA) any {
			return ca.leaf(t, &leafKey.PublicKey, pkix.Name{SerialNumber: testOrg}, e.clock.Now().Add(time.Hour))
		}},
		{name: "x5c not base64", trust: true, key: leafKey, status: 400, err: "invalid_grant", code: "MP-123", x5c: func(e *mpEnv, ca *testCA) any {
			return []string{"not base64!"}
		}},
		{name: "x5c empty", trust: true, key: leafKey, status: 400, err: "invalid_grant", code: "MP-123", x5c: func(e *mpEnv, ca *testCA) any {
			return []string{}
		}},
		{name: "signed by another key", trust: true, key: otherKey, status: 400, err: "invalid_grant", code: "MP-124", x5c: func(e *mpEnv, ca *testCA) any {
			return []string{ca.leaf(t, &leafKey.PublicKey, pkix.Name{SerialNumber: testOrg}, e.clock.Now().Add(time.Hour))}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newMPEnv(t)
			must(t, e.s.RegisterClient(Client{ID: certClient, Org: testOrg, Scopes: []string{testScope}}))
			seedAltinn(t, e.s, system{ID: testSystemID, VendorOrg: testOrg, ClientIDs: []string{testClientID, certClient}},
				systemUser{ID: testUserID, SystemID: testSystemID, OwnerOrg: testOrg, ExternalRef: testOrg})
			ca := newTestCA(t, e.clock.Now())
			if tc.trust {
				e.s.TrustCA(ca.cert)
			}
			r := e.post(e.grant(func(g *grantSpec) {
				g.key = tc.key
				g.claims["iss"] = certClient
				delete(g.header, "kid")
				g.header["x5c"] = tc.x5c(e, ca)
			}))
			if r.status != tc.status || r.Error != tc.err {
				t.Fatalf("status %d %q; want %d %q (%s)", r.status, r.Error, tc.status, tc.err, r.ErrorDescription)
			}
			if tc.status != http.StatusOK {
				if code := r.code(t); code != tc.code {
					t.Errorf("code %q; want %q (%s)", code, tc.code, r.ErrorDescription)
				}
				return
			}
			_, claims := e.verifyWithJWKS(r.AccessToken)
			if claims["client_amr"] != "virksomhetssertifikat" || claims["client_id"] != certClient {
				t.Errorf("claims client_amr %v client_id %v", claims["client_amr"], claims["client_id"])
			}
		})
	}
}

// TestEnterpriseCertificate: a certificate from the sandbox's own test CA (EnterpriseCertificate) makes an
// x5c grant that is accepted with client_amr virksomhetssertifikat and lives three years; a bad org
// number or a short key is refused.
func TestEnterpriseCertificate(t *testing.T) {
	const certClient = "cert-client"
	e := newMPEnv(t)
	must(t, e.s.RegisterClient(Client{ID: certClient, Org: testOrg, Scopes: []string{testScope}}))
	leafKey := testKeys()[2]
	chain, err := e.s.EnterpriseCertificate(testOrg, &leafKey.PublicKey)
	must(t, err)
	if len(chain) != 2 || certOrg(chain[0]) != testOrg || chain[0].NotAfter.Sub(e.clock.Now()) < enterpriseCertLifetime-time.Hour ||
		chain[0].CheckSignatureFrom(chain[1]) != nil {
		t.Fatalf("chain: %d certificates, leaf org %q, until %s", len(chain), certOrg(chain[0]), chain[0].NotAfter)
	}
	var x5c []string
	for _, c := range chain {
		x5c = append(x5c, base64.StdEncoding.EncodeToString(c.Raw))
	}
	r := e.post(e.grant(func(g *grantSpec) {
		g.key = leafKey
		g.claims["iss"] = certClient
		delete(g.header, "kid")
		g.header["x5c"] = x5c
		delete(g.claims, "authorization_details") // the organisation's own token, as an admin client asks
	}))
	if r.status != http.StatusOK {
		t.Fatalf("x5c grant with the sandbox's test certificate: %d %s %s", r.status, r.Error, r.ErrorDescription)
	}
	if _, claims := e.verifyWithJWKS(r.AccessToken); claims["client_amr"] != "virksomhetssertifikat" {
		t.Errorf("client_amr %v", claims["client_amr"])
	}
	if _, err := e.s.EnterpriseCertificate("12345", &leafKey.PublicKey); err == nil {
		t.Error("a certificate for a 5-digit organisation number was issued")
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	must(t, err)
	if _, err := e.s.EnterpriseCertificate(testOrg, &small.PublicKey); err == nil {
		t.Error("a certificate for an RSA-1024 key was issued")
	}
}
