package main

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// noSecret fails if data holds k's private key.
func noSecret(t *testing.T, where string, data []byte, k *rsa.PrivateKey) {
	t.Helper()
	for _, h := range secretHits(data, k) {
		t.Errorf("%s holds the private key (%s)", where, h)
	}
}

// secretHits names the forms of k's private key found in data: PKCS#8/PKCS#1 base64 (PEM, keyring
// entries) and the JWK's private exponent, as 48-character windows from the private middle of each.
func secretHits(data []byte, k *rsa.PrivateKey) []string {
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	mid := func(s string) string { return s[len(s)/2-24 : len(s)/2+24] } // past the public modulus
	forms := map[string]string{
		"PKCS#8 base64": mid(base64.StdEncoding.EncodeToString(p8)),
		"PKCS#1 base64": mid(base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(k))),
		"JWK d":         mid(base64.RawURLEncoding.EncodeToString(k.D.Bytes())),
	}
	var hits []string
	unwrapped := bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\n"), nil), []byte("\r"), nil) // PEM wraps base64
	for name, f := range forms {
		if bytes.Contains(unwrapped, []byte(f)) {
			hits = append(hits, name)
		}
	}
	return hits
}

// TestSecretHitsDetects is the positive control for every output check here.
func TestSecretHitsDetects(t *testing.T) {
	k := cliKey()
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	priv, _ := json.Marshal(jose.JSONWebKey{Key: k})
	pub, _ := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey})
	for name, data := range map[string][]byte{
		"PKCS#8 PEM":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		"PKCS#1 PEM":  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		"private JWK": priv,
	} {
		if len(secretHits(data, k)) == 0 {
			t.Errorf("%s not detected", name)
		}
	}
	if h := secretHits(pub, k); len(h) != 0 {
		t.Errorf("public JWK flagged as private: %v", h)
	}
}
