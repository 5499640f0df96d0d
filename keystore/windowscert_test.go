package keystore

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// The windows-cert backend's Windows part (the certificate store and CNG) runs only on Windows and is in
// docs/windows-test-plan.md; these tests cover what does not need Windows: thumbprints, the signer's
// checks, the store's refusals, and an x5c grant from such a signer (an in-memory key stands in for the
// CNG key).

func TestParseThumbprint(t *testing.T) {
	const hexd = "3B7E0A1F9C2D4E5F60718293A4B5C6D7E8F90A1B"
	for _, in := range []string{hexd, strings.ToLower(hexd), "3b 7e 0a 1f 9c 2d 4e 5f 60 71 82 93 a4 b5 c6 d7 e8 f9 0a 1b",
		"3B:7E:0A:1F:9C:2D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B", "\u200e" + hexd, " " + hexd + "\r\n"} {
		b, err := parseThumbprint(in)
		if err != nil || len(b) != 20 || b[0] != 0x3b || b[19] != 0x1b {
			t.Errorf("%q: %x, %v", in, b, err)
		}
	}
	for _, in := range []string{"", hexd[:38], hexd + "00", strings.Replace(hexd, "3B", "3G", 1), "sha1:" + hexd} {
		if _, err := parseThumbprint(in); err == nil || !strings.Contains(err.Error(), "40 hex digits") {
			t.Errorf("%q: got %v, want a thumbprint error", in, err)
		}
	}
}

// fakeCertStore is a WindowsCert whose "CNG key" is the 2048-bit test key with its enterprise chain.
func fakeCertStore(t *testing.T, exportable bool) (*WindowsCert, []byte) {
	key, chain := enterpriseChain(t, time.Now().AddDate(1, 0, 0))
	thumb := sha1.Sum(chain[0].Raw)
	w := &WindowsCert{thumb: thumb[:], open: func(th []byte) (*certSigner, error) {
		return newCertSigner(key, chain, th, exportable, "Microsoft Software Key Storage Provider")
	}}
	return w, thumb[:]
}

func TestWindowsCertSigner(t *testing.T) {
	key, chain := enterpriseChain(t, time.Now().AddDate(1, 0, 0))
	thumb := sha1.Sum(chain[0].Raw)
	other := sha1.Sum(chain[1].Raw)
	if _, err := newCertSigner(key, chain, other[:], false, "x"); err == nil || !strings.Contains(err.Error(), "not the certificate") {
		t.Errorf("wrong thumbprint: %v", err)
	}
	if _, err := newCertSigner(rsaTestKey(t, 3072), chain, thumb[:], false, "x"); err == nil || !strings.Contains(err.Error(), "not the certificate's key") {
		t.Errorf("key of another certificate: %v", err)
	}
	if _, err := newCertSigner(ecKey(t), chain, thumb[:], false, "x"); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("EC key: %v", err)
	}
	s, err := newCertSigner(key, chain, thumb[:], false, "x")
	if err != nil {
		t.Fatal(err)
	}
	if !chainEqual(Chain(s), chain) {
		t.Error("the signer does not carry its chain")
	}
	verifyRS256(t, s, publicJWKOf(t, s))
	d := sha256.Sum256([]byte("x"))
	if _, err := s.Sign(nil, d[:], &rsa.PSSOptions{Hash: crypto.SHA256}); err == nil || !strings.Contains(err.Error(), "RS256 only") {
		t.Errorf("PSS: %v", err)
	}
}

func TestWindowsCertStore(t *testing.T) {
	ctx := context.Background()
	for _, exportable := range []bool{false, true} {
		w, thumb := fakeCertStore(t, exportable)
		if d := Describe(w); d.Backend != BackendWindowsCert || d.Exportable != exportable || !strings.Contains(d.Where, hexOf(thumb)) {
			t.Errorf("Describe = %+v", d)
		}
	}
	w, _ := fakeCertStore(t, false)
	if _, err := w.Generate(ctx, "mp", 2048); !errors.Is(err, ErrNoImport) || !strings.Contains(err.Error(), "Import-PfxCertificate") {
		t.Errorf("Generate: %v", err)
	}
	if err := w.Put(ctx, "mp", rsaTestKey(t, 2048)); !errors.Is(err, ErrNoImport) {
		t.Errorf("Put: %v", err)
	}
	if err := w.Delete(ctx, "mp"); err == nil {
		t.Error("Delete succeeded")
	}
	// The x5c grant from the certificate's key is what the sandbox's Maskinporten accepts.
	k, err := w.Signer(ctx, "maskinporten")
	if err != nil {
		t.Fatal(err)
	}
	g := newGrantSandbox(t)
	if err := g.sb.RegisterClient(sandbox.Client{ID: tpmClient, Org: tpmOrg, Scopes: []string{tpmScope}}); err != nil {
		t.Fatal(err)
	}
	g.sb.TrustCA(Chain(k)[len(Chain(k))-1])
	if err := g.tokenX5C(t, k); err != nil {
		t.Fatalf("the sandbox refused the x5c grant: %v", err)
	}
	if runtime.GOOS != "windows" {
		if _, err := Open(Options{Backend: BackendWindowsCert, Thumbprint: "3B7E0A1F9C2D4E5F60718293A4B5C6D7E8F90A1B"}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Open off Windows: %v", err)
		}
	}
}

func hexOf(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
