package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/youmark/pkcs8"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// keyFile writes a fixture for import (a test key; the file is what the operator would hand us).
func keyFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeysImport(t *testing.T) {
	skipFileBackendOnWindows(t)
	k := cliKey()
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	enc, err := pkcs8.MarshalPrivateKey(k, []byte("s3cret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	certDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	cert, _ := x509.ParseCertificate(certDER)
	p12, err := pkcs12.Modern.Encode(k, cert, nil, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	pemPKCS8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	encPEM := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc})
	pwFile := keyFile(t, "pw", []byte("s3cret\n"))
	cases := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"PEM file", "", []string{"--file", keyFile(t, "k.pem", pemPKCS8)}},
		{"PEM on stdin", string(pemPKCS8), []string{"--file", "-"}},
		{"encrypted PKCS#8, password file", "", []string{"--file", keyFile(t, "k.enc.pem", encPEM), "--password-file", pwFile}},
		{"encrypted PKCS#8, password on stdin", "s3cret\n", []string{"--file", keyFile(t, "k2.enc.pem", encPEM), "--password-stdin"}},
		{"PKCS#12", "", []string{"--file", keyFile(t, "k.p12", p12), "--password-file", pwFile}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &keysRun{t: t, keys: []*rsa.PrivateKey{k}}
			dir := t.TempDir()
			code, out, errOut := r.run(c.stdin, append([]string{"import", "--backend", "file", "--path", dir, "--json"}, c.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var info cliKeyInfo
			decodeJSON(t, out, &info)
			if info.KID != thumb(t, k) || !storedKey(t, dir, "maskinporten").Equal(k) {
				t.Fatalf("imported %+v, not the key given", info)
			}
			if c.args[1] != "-" && !strings.Contains(info.Advice, "shred -u "+c.args[1]) {
				t.Errorf("advice does not say to delete the source: %q", info.Advice)
			}
		})
	}
}

func TestKeysImportRefusals(t *testing.T) {
	skipFileBackendOnWindows(t)
	k := cliKey()
	enc, err := pkcs8.MarshalPrivateKey(k, []byte("s3cret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	encFile := keyFile(t, "k.enc.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc}))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallFile := keyFile(t, "small.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}))
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"no password, no terminal", "", []string{"--file", encFile}, exitError, "--password-file"},
		{"wrong password", "nope\n", []string{"--file", encFile, "--password-stdin"}, exitError, "wrong password"},
		{"RSA-1024", "", []string{"--file", smallFile}, exitError, "RSA-1024"},
		{"missing file flag", "", nil, exitUsage, "--file"},
		{"password as a flag value", "", []string{"--file", encFile, "--password", "s3cret"}, exitUsage, "not defined"},
		{"key and password both on stdin", "", []string{"--file", "-", "--password-stdin"}, exitUsage, "cannot be combined"},
		{"no such file", "", []string{"--file", filepath.Join(t.TempDir(), "absent")}, exitError, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &keysRun{t: t, keys: []*rsa.PrivateKey{k, small}}
			dir := t.TempDir()
			code, _, errOut := r.run(c.stdin, append([]string{"import", "--backend", "file", "--path", dir}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, c.code, errOut, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("a refused import left %v", entries)
			}
		})
	}
}
