package keystore

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

func TestParsePrivateKeyFormats(t *testing.T) {
	for _, bits := range []int{2048, 3072} {
		k := rsaTestKey(t, bits)
		for _, f := range importFormats() {
			t.Run(f.name, func(t *testing.T) {
				data := f.encode(t, k)
				var pw []byte
				if f.password != "" {
					pw = []byte(f.password)
				}
				got, err := ParsePrivateKey(data, pw)
				if err != nil {
					t.Fatalf("RSA-%d: %v", bits, err)
				}
				if !got.Public().(*rsa.PublicKey).Equal(&k.PublicKey) {
					t.Fatalf("RSA-%d: parsed a different key", bits)
				}
				if !got.(*rsa.PrivateKey).Equal(k) {
					t.Fatalf("RSA-%d: private halves differ", bits)
				}
			})
		}
	}
}

func TestParsePrivateKeyPasswords(t *testing.T) {
	k := rsaTestKey(t, 2048)
	for _, f := range importFormats() {
		if f.password == "" {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			data := f.encode(t, k)
			if _, err := ParsePrivateKey(data, nil); !errors.Is(err, ErrPasswordNeeded) {
				t.Errorf("no password: got %v, want ErrPasswordNeeded", err)
			}
			_, err := ParsePrivateKey(data, []byte("wrong password"))
			if !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: got %v, want ErrWrongPassword", err)
			}
			if !strings.Contains(err.Error(), "password") {
				t.Errorf("wrong-password error does not say so: %v", err)
			}
			assertNoSecret(t, "error", []byte(err.Error()), secretForms(t, k))
		})
	}
}

func TestParsePrivateKeyRefuses(t *testing.T) {
	k := rsaTestKey(t, 2048)
	small := rsaTestKey(t, 1024)
	ec := ecKey(t)
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string // in the message
	}{
		{"RSA-1024 PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), "RSA-1024"},
		{"RSA-1024 JWK", privateJWK(t, small), "RSA-1024"},
		{"EC PKCS#8", pkcs8PEM(t, ec), "RSA"},
		{"EC SEC1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), "EC PRIVATE KEY"},
		{"EC JWK", privateJWK(t, ec), "RSA"},
		{"Ed25519 PKCS#8", pkcs8PEM(t, edKey(t)), "RSA"},
		{"EC PKCS#12", func() []byte {
			b, err := pkcs12.Passwordless.Encode(ec, selfSigned(t, ec), nil, "")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}(), "RSA"},
		{"public JWK", mustJSON(t, jose.JSONWebKey{Key: &k.PublicKey}), "public key"},
		{"JWK set of two", []byte(`{"keys":[` + string(privateJWK(t, k)) + `,` + string(privateJWK(t, k)) + `]}`), "2 keys"},
		{"certificate only", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, k).Raw}), "no private key"},
		{"OpenSSH key", pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("x")}), "RSA"},
		{"garbage", []byte("this is not a key"), "supported"},
		{"empty", []byte("  \n"), "empty"},
		{"broken JSON", []byte(`{"kty":"RSA","d":"` + strings.Repeat("Q", 40) + `"`), "byte"},
		{"truncated PEM", pkcs8PEM(t, k)[:300], "PEM"},
	}
	forms := secretForms(t, k)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePrivateKey(c.data, nil)
			if !errors.Is(err, ErrUnsupportedKey) {
				t.Fatalf("got %v, want ErrUnsupportedKey", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			assertNoSecret(t, "error", []byte(err.Error()), forms)
		})
	}
}

// TestParseDoesNotKeepInput proves ParsePrivateKey leaves the caller's buffers as they were (the caller
// owns and wipes them) and that wiping them afterwards does not disturb the parsed key.
func TestParseDoesNotKeepInput(t *testing.T) {
	k := rsaTestKey(t, 2048)
	for _, f := range importFormats() {
		t.Run(f.name, func(t *testing.T) {
			data := f.encode(t, k)
			orig := bytes.Clone(data)
			pw := []byte(f.password)
			got, err := ParsePrivateKey(data, pw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, orig) {
				t.Fatal("ParsePrivateKey modified its input")
			}
			Wipe(data)
			Wipe(pw)
			if !got.(*rsa.PrivateKey).Equal(k) {
				t.Fatal("wiping the input changed the parsed key")
			}
			if bytes.Count(data, []byte{0}) != len(data) {
				t.Fatal("Wipe left bytes")
			}
		})
	}
}

// TestParseOpenSSLOutput reads keys as OpenSSL 3 writes them, for interoperability beyond our own
// encoders: encrypted PKCS#8 (its default PBES2), legacy PEM and PKCS#12.
func TestParseOpenSSLOutput(t *testing.T) {
	openssl := realdeps.Tool(t, "openssl", "apt-get install openssl")
	k := rsaTestKey(t, 2048)
	dir := t.TempDir()
	in := filepath.Join(dir, "key.pem")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(in, pkcs8PEM(t, k), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte(testPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t, k).Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
	}{
		{"pkcs8 default", []string{"pkcs8", "-topk8", "-in", in, "-passout", "file:" + pwFile}},
		{"pkcs8 aes-128 sha1", []string{"pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1", "-in", in, "-passout", "file:" + pwFile}},
		{"pkcs8 scrypt", []string{"pkcs8", "-topk8", "-scrypt", "-in", in, "-passout", "file:" + pwFile}},
		{"traditional aes256", []string{"rsa", "-aes256", "-traditional", "-in", in, "-passout", "file:" + pwFile}},
		{"pkcs12", []string{"pkcs12", "-export", "-inkey", in, "-in", cert, "-passout", "file:" + pwFile}},
		{"pkcs12 legacy", []string{"pkcs12", "-export", "-legacy", "-inkey", in, "-in", cert, "-passout", "file:" + pwFile}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command(openssl, c.args...).Output()
			if err != nil {
				if ee, ok := err.(*exec.ExitError); ok && c.name == "pkcs12 legacy" {
					t.Skipf("this OpenSSL has no legacy provider: %s", ee.Stderr)
				}
				t.Fatalf("openssl: %v", err)
			}
			got, err := ParsePrivateKey(out, []byte(testPassword))
			if err != nil {
				t.Fatal(err)
			}
			if !got.(*rsa.PrivateKey).Equal(k) {
				t.Fatal("different key")
			}
			if _, err := ParsePrivateKey(out, []byte("nope")); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: got %v", err)
			}
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseDERNotTrimmed: DER ends in an arbitrary byte, which for about one key in 40 looks like
// whitespace; it must not be trimmed off. The test generates keys until it has such a key.
func TestParseDERNotTrimmed(t *testing.T) {
	if testing.Short() {
		t.Skip("generates RSA keys until one ends in a whitespace byte")
	}
	for range 500 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		der := x509.MarshalPKCS1PrivateKey(k)
		if !bytes.ContainsRune([]byte("\t\n\v\f\r "), rune(der[len(der)-1])) {
			continue
		}
		for name, data := range map[string][]byte{"PKCS#1": der, "PKCS#8": pkcs8DER(t, k)} {
			got, err := ParsePrivateKey(data, nil)
			if err != nil {
				t.Fatalf("%s DER ending in %q: %v", name, data[len(data)-1], err)
			}
			if !got.(*rsa.PrivateKey).Equal(k) {
				t.Fatalf("%s: different key", name)
			}
		}
		return
	}
	t.Fatal("no key in 500 ended in a whitespace byte (expected about 1 in 40)")
}
