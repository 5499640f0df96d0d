package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/youmark/pkcs8"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// Test keys are generated at test time, once per size; no private key is committed.
var testKeys = func() map[int]func() *rsa.PrivateKey {
	m := map[int]func() *rsa.PrivateKey{}
	for _, bits := range []int{1024, 2048, 3072, 4096} {
		m[bits] = sync.OnceValue(func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				panic(err)
			}
			k.Precompute()
			return k
		})
	}
	return m
}()

func rsaTestKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	return testKeys[bits]()
}

const testPassword = "correct horse battery staple"

// importFormat is one way an operator may hand us a key.
type importFormat struct {
	name     string
	password string
	encode   func(t testing.TB, k *rsa.PrivateKey) []byte
}

// importFormats lists every input format ParsePrivateKey must read, built from the key at test time.
func importFormats() []importFormat {
	return []importFormat{
		{"PEM PKCS#1", "", func(t testing.TB, k *rsa.PrivateKey) []byte {
			return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		}},
		{"PEM PKCS#8", "", func(t testing.TB, k *rsa.PrivateKey) []byte { return pkcs8PEM(t, k) }},
		{"PEM certificate then PKCS#8", "", func(t testing.TB, k *rsa.PrivateKey) []byte {
			cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, k).Raw})
			return append(cert, pkcs8PEM(t, k)...)
		}},
		{"DER PKCS#1", "", func(t testing.TB, k *rsa.PrivateKey) []byte { return x509.MarshalPKCS1PrivateKey(k) }},
		{"DER PKCS#8", "", func(t testing.TB, k *rsa.PrivateKey) []byte { return pkcs8DER(t, k) }},
		{"encrypted PKCS#8 AES-256-CBC PBKDF2-SHA256", testPassword, func(t testing.TB, k *rsa.PrivateKey) []byte {
			return encryptedPKCS8(t, k, pkcs8.DefaultOpts)
		}},
		{"encrypted PKCS#8 AES-256-GCM scrypt", testPassword, func(t testing.TB, k *rsa.PrivateKey) []byte {
			return encryptedPKCS8(t, k, &pkcs8.Opts{Cipher: pkcs8.AES256GCM, KDFOpts: pkcs8.ScryptOpts{CostParameter: 1 << 10, BlockSize: 8, ParallelizationParameter: 1, SaltSize: 16}})
		}},
		{"legacy encrypted PEM AES-256", testPassword, func(t testing.TB, k *rsa.PrivateKey) []byte { return legacyPEM(t, k, testPassword) }},
		{"JWK", "", func(t testing.TB, k *rsa.PrivateKey) []byte { return privateJWK(t, k) }},
		{"JWK set of one", "", func(t testing.TB, k *rsa.PrivateKey) []byte {
			return []byte(`{"keys":[` + string(privateJWK(t, k)) + `]}`)
		}},
		{"PKCS#12 modern", testPassword, func(t testing.TB, k *rsa.PrivateKey) []byte { return p12(t, pkcs12.Modern, k, testPassword) }},
		{"PKCS#12 legacy RC2", testPassword, func(t testing.TB, k *rsa.PrivateKey) []byte { return p12(t, pkcs12.LegacyRC2, k, testPassword) }},
		{"PKCS#12 modern 2026", testPassword, func(t testing.TB, k *rsa.PrivateKey) []byte { return p12(t, pkcs12.Modern2026, k, testPassword) }},
		{"PKCS#12 without password", "", func(t testing.TB, k *rsa.PrivateKey) []byte { return p12(t, pkcs12.Passwordless, k, "") }},
	}
}

func pkcs8DER(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pkcs8PEM(t testing.TB, k any) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8DER(t, k)})
}

func encryptedPKCS8(t testing.TB, k *rsa.PrivateKey, opts *pkcs8.Opts) []byte {
	t.Helper()
	der, err := pkcs8.MarshalPrivateKey(k, []byte(testPassword), opts)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

func legacyPEM(t testing.TB, k *rsa.PrivateKey, password string) []byte {
	t.Helper()
	//lint:ignore SA1019 the test makes a legacy encrypted PEM to prove we can import one.
	b, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), []byte(password), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(b)
}

func privateJWK(t testing.TB, k any) []byte {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKey{Key: k, KeyID: "k1", Algorithm: "RS256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func selfSigned(t testing.TB, k crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func p12(t testing.TB, enc *pkcs12.Encoder, k *rsa.PrivateKey, password string) []byte {
	t.Helper()
	b, err := enc.Encode(k, selfSigned(t, k), nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func edKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// secretForms are byte strings that must never appear outside the key store for k: its DER encodings,
// their base64 forms (std as in PEM lines and keyring entries, base64url as in JWKs), the private
// exponent in raw, base64url and hex form. Each is cut to a 48-byte window from its middle — in the
// private part: the public modulus comes first in both DER forms — so a partial copy is caught too.
func secretForms(t testing.TB, k *rsa.PrivateKey) map[string][]byte {
	t.Helper()
	p8 := pkcs8DER(t, k)
	p1 := x509.MarshalPKCS1PrivateKey(k)
	d := k.D.Bytes()
	full := map[string][]byte{
		"PKCS#8 DER":            p8,
		"PKCS#1 DER":            p1,
		"PKCS#8 base64 (PEM)":   []byte(base64.StdEncoding.EncodeToString(p8)),
		"PKCS#1 base64 (PEM)":   []byte(base64.StdEncoding.EncodeToString(p1)),
		"PKCS#8 base64url":      []byte(base64.RawURLEncoding.EncodeToString(p8)),
		"private exponent":      d,
		"private exponent b64u": []byte(base64.RawURLEncoding.EncodeToString(d)),
		"private exponent hex":  []byte(hex.EncodeToString(d)),
		"prime p base64url":     []byte(base64.RawURLEncoding.EncodeToString(k.Primes[0].Bytes())),
	}
	forms := map[string][]byte{}
	for name, b := range full {
		mid := len(b) / 2
		lo, hi := max(0, mid-24), min(len(b), mid+24)
		forms[name] = b[lo:hi]
	}
	return forms
}

// assertNoSecret fails if data holds any secret form.
func assertNoSecret(t testing.TB, where string, data []byte, forms map[string][]byte) {
	t.Helper()
	for _, name := range secretHits(data, forms) {
		t.Errorf("%s holds the private key (%s)", where, name)
	}
}

// secretHits names the secret forms found in data.
func secretHits(data []byte, forms map[string][]byte) []string {
	var hits []string
	unwrapped := bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\n"), nil), []byte("\r"), nil) // PEM wraps base64
	for name, f := range forms {
		if bytes.Contains(data, f) || bytes.Contains(unwrapped, f) {
			hits = append(hits, name)
		}
	}
	return hits
}

// scanTree fails if any regular file under root holds a secret form, and returns how many files it read.
func scanTree(t testing.TB, root string, forms map[string][]byte) int {
	t.Helper()
	hits, n := findSecrets(root, forms)
	for _, h := range hits {
		t.Errorf("%s holds the private key", h)
	}
	return n
}

// findSecrets returns "path (form)" for each secret form in a regular file under root, and the number of
// files read. Unreadable entries are skipped.
func findSecrets(root string, forms map[string][]byte) ([]string, int) {
	var hits []string
	n := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		n++
		for _, h := range secretHits(data, forms) {
			hits = append(hits, p+" ("+h+")")
		}
		return nil
	})
	return hits, n
}

// tempEntries lists os.TempDir() so a test can scan only what appeared during it.
func tempEntries(t testing.TB) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

// newTempEntries are the os.TempDir() entries not in before.
func newTempEntries(t testing.TB, before map[string]bool) []string {
	t.Helper()
	var out []string
	for name := range tempEntries(t) {
		if !before[name] && !strings.HasPrefix(name, "go-build") {
			out = append(out, filepath.Join(os.TempDir(), name))
		}
	}
	return out
}
