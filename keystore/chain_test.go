package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"runtime"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// enterpriseChain returns an enterprise certificate for the 2048-bit test key, issued by an
// intermediate CA under a root CA, as [leaf, intermediate, root]; the leaf expires at notAfter.
func enterpriseChain(t testing.TB, notAfter time.Time) (*rsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	leafKey, interKey, rootKey := rsaTestKey(t, 2048), rsaTestKey(t, 3072), rsaTestKey(t, 4096)
	mk := func(serial int64, cn string, pub crypto.PublicKey, parent *x509.Certificate, signer crypto.Signer, ca bool, end time.Time) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"Eksempel AS"}, SerialNumber: tpmOrg},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: end, BasicConstraintsValid: true, IsCA: ca,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	far := time.Now().AddDate(5, 0, 0)
	root := mk(1, "Test Root CA", &rootKey.PublicKey, nil, rootKey, true, far)
	inter := mk(2, "Test Enterprise CA", &interKey.PublicKey, root, rootKey, true, far)
	leaf := mk(3, "EKSEMPEL AS", &leafKey.PublicKey, inter, interKey, false, notAfter)
	return leafKey, []*x509.Certificate{leaf, inter, root}
}

func chainEqual(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			return false
		}
	}
	return true
}

func TestParseCertifiedKey(t *testing.T) {
	key, chain := enterpriseChain(t, time.Now().AddDate(1, 0, 0))
	leaf, inter, root := chain[0], chain[1], chain[2]
	stranger := selfSigned(t, rsaTestKey(t, 3072))
	p12, err := pkcs12.Modern.Encode(key, leaf, []*x509.Certificate{root, inter}, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, c := range []*x509.Certificate{root, stranger, leaf} {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	bundle = append(bundle, pkcs8PEM(t, key)...)
	bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw})...)

	for _, c := range []struct {
		name     string
		data     []byte
		password string
		want     []*x509.Certificate
	}{
		{"PKCS#12 with CA certificates out of order", p12, testPassword, chain},
		{"PEM bundle with a stranger", bundle, "", chain},
		{"PEM key alone", pkcs8PEM(t, key), "", nil},
	} {
		k, err := ParseCertifiedKey(c.data, []byte(c.password))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := Chain(k); !chainEqual(got, c.want) {
			t.Errorf("%s: chain of %d certificates, want %d in leaf-first order", c.name, len(got), len(c.want))
		}
		if !k.Public().(*rsa.PublicKey).Equal(&key.PublicKey) {
			t.Errorf("%s: wrong key", c.name)
		}
		verifyRS256(t, k, publicJWKOf(t, k))
	}
	// Certificates that are none of them the key's are not kept: the key comes alone, as from
	// ParsePrivateKey, and WithChain refuses them.
	other := append(pkcs8PEM(t, key), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stranger.Raw})...)
	if k, err := ParseCertifiedKey(other, nil); err != nil || Chain(k) != nil {
		t.Errorf("stranger's certificate only: got %d certificates, %v; want the key alone", len(Chain(k)), err)
	}
	if _, err := WithChain(key, []*x509.Certificate{stranger}); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("WithChain with a stranger's certificate: got %v, want ErrUnsupportedKey", err)
	}
	// A backend that keeps the key alone refuses a key with a chain rather than dropping the chain.
	k, _ := WithChain(key, chain)
	if _, err := marshalDER(k); !errors.Is(err, ErrNoChain) {
		t.Errorf("marshalDER of a certified key: got %v, want ErrNoChain", err)
	}
}

// tokenX5C asks the sandbox's Maskinporten for a token with a grant k signs carrying k's chain as x5c.
func (g *grantSandbox) tokenX5C(t *testing.T, k crypto.Signer) error {
	t.Helper()
	c, err := tokens.NewClient(tokens.ClientOptions{
		Issuer: g.sb.MaskinportenIssuer(), TokenURL: g.sb.MaskinportenTokenURL(), ClientID: tpmClient,
		X5C: ChainDER(k), Signer: k, Retry: tokens.RetryPolicy{Max: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background(), tokens.Request{Scopes: []string{tpmScope}})
	return err
}

// TestEnterpriseCertificateGrant: a PKCS#12 enterprise certificate imported with ParseCertifiedKey and
// stored in a backend keeps its chain, and a grant with that chain as x5c is accepted by the sandbox's
// Maskinporten (which trusts the test root and checks the organisation number in the certificate).
func TestEnterpriseCertificateGrant(t *testing.T) {
	key, chain := enterpriseChain(t, time.Now().AddDate(1, 0, 0))
	p12, err := pkcs12.Modern.Encode(key, chain[0], chain[1:], testPassword)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseCertifiedKey(p12, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	var s Store = NewMemory()
	if runtime.GOOS != "windows" { // the file backend does not exist on Windows
		var err error
		if s, err = Open(Options{Backend: BackendFile, Dir: t.TempDir(), AllowFile: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(context.Background(), "enterprise", k); err != nil {
		t.Fatal(err)
	}
	stored := mustSigner(t, s, "enterprise")
	g := newGrantSandbox(t)
	if err := g.sb.RegisterClient(sandbox.Client{ID: tpmClient, Org: tpmOrg, Scopes: []string{tpmScope}}); err != nil {
		t.Fatal(err)
	}
	if err := g.tokenX5C(t, stored); err == nil {
		t.Fatal("the sandbox accepted an x5c grant before it trusted the test CA")
	}
	g.sb.TrustCA(chain[2])
	if err := g.tokenX5C(t, stored); err != nil {
		t.Fatalf("the sandbox refused the x5c grant: %v", err)
	}
}
