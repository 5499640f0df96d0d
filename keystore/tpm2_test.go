package keystore

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// TestTPM2Conformance runs the conformance suite on the tpm2 backend, each subtest on its own fresh
// software TPM. Imports are refused (ErrNoImport), so the suite generates every key it needs.
func TestTPM2Conformance(t *testing.T) {
	testStoreWith(t, func(t *testing.T) Store { return newTestTPM2(t, startSWTPM(t), t.TempDir()) }, true)
}

// grantSandbox is the sandbox's Maskinporten with one client; accepts gets a token with a grant signed
// by k under kid, which the sandbox verifies against the registered keys.
type grantSandbox struct {
	sb *sandbox.Sandbox
}

const (
	tpmOrg    = "310000001"
	tpmClient = "client-tpm"
	tpmScope  = "altinn:x"
)

func newGrantSandbox(t *testing.T) *grantSandbox {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	sb.AddOrganization(tpmOrg, "Eksempel AS")
	return &grantSandbox{sb: sb}
}

// register makes the client with k's public JWK as printed by "agent keys generate".
func (g *grantSandbox) register(t *testing.T, k crypto.Signer) {
	t.Helper()
	if err := g.sb.RegisterClient(sandbox.Client{ID: tpmClient, Org: tpmOrg, Scopes: []string{tpmScope}, Keys: []sandbox.ClientKey{clientKey(t, k)}}); err != nil {
		t.Fatal(err)
	}
}

// addKey registers another key on the client (the new key of a rotation).
func (g *grantSandbox) addKey(t *testing.T, k crypto.Signer) {
	t.Helper()
	if err := g.sb.AddClientKey(tpmClient, clientKey(t, k)); err != nil {
		t.Fatal(err)
	}
}

// removeKey removes k from the client (the old key, once the rotation is done).
func (g *grantSandbox) removeKey(t *testing.T, k crypto.Signer) {
	t.Helper()
	if err := g.sb.RemoveClientKey(tpmClient, clientKey(t, k).KID); err != nil {
		t.Fatal(err)
	}
}

func clientKey(t *testing.T, k crypto.Signer) sandbox.ClientKey {
	jwk := publicJWKOf(t, k)
	return sandbox.ClientKey{KID: jwk.KeyID, Public: jwk.Key}
}

// token asks the sandbox's Maskinporten for a token with a grant k signs; nil means it was accepted.
func (g *grantSandbox) token(t *testing.T, k crypto.Signer) error {
	t.Helper()
	kid, err := Thumbprint(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tokens.NewClient(tokens.ClientOptions{
		Issuer: g.sb.MaskinportenIssuer(), TokenURL: g.sb.MaskinportenTokenURL(), ClientID: tpmClient,
		KeyID: kid, Signer: k, Retry: tokens.RetryPolicy{WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond, Max: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background(), tokens.Request{Scopes: []string{tpmScope}})
	return err
}

// TestTPM2Journey: generate in a software TPM → a grant the sandbox accepts → the key cannot leave the
// TPM (attributes, TPM2_Duplicate refused, the key file is no private key and does not load on another
// TPM) → a new store instance (as after a restart) signs with the saved key → rotate and activate.
func TestTPM2Journey(t *testing.T) {
	ctx := context.Background()
	dev := startSWTPM(t)
	dir := t.TempDir()
	s := newTestTPM2(t, dev, dir)
	g := newGrantSandbox(t)
	journey := t // stores the later steps use live as long as the journey

	k, err := s.Generate(ctx, "maskinporten", 2048)
	if err != nil {
		t.Fatal(err)
	}
	g.register(t, k)
	if err := g.token(t, k); err != nil {
		t.Fatalf("the sandbox refused the TPM-signed grant: %v", err)
	}
	if d := Describe(s); d.Backend != "tpm2" || d.Exportable || !strings.Contains(d.Where, dev) {
		t.Fatalf("Describe = %+v", d)
	}

	t.Run("not exportable", func(t *testing.T) {
		blob := k.(*tpm2Signer).blob
		loaded, err := tpm2.Load{
			ParentHandle: tpm2.AuthHandle{Handle: s.srk, Name: s.srkNam, Auth: tpm2.PasswordAuth(nil)},
			InPrivate:    blob.private, InPublic: blob.public,
		}.Execute(s.tpm)
		if err != nil {
			t.Fatal(err)
		}
		defer tpm2.FlushContext{FlushHandle: loaded.ObjectHandle}.Execute(s.tpm)
		// The TPM reports the key as fixed to it and to its parent, generated inside it.
		rp, err := tpm2.ReadPublic{ObjectHandle: loaded.ObjectHandle}.Execute(s.tpm)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := rp.OutPublic.Contents()
		if err != nil {
			t.Fatal(err)
		}
		if a := pub.ObjectAttributes; !a.FixedTPM || !a.FixedParent || !a.SensitiveDataOrigin || !a.UserWithAuth || !a.SignEncrypt || a.Decrypt {
			t.Fatalf("key attributes %+v", a)
		}
		// Asked to duplicate it (the only command that exports a key's private part, wrapped), the TPM
		// refuses.
		_, err = tpm2.Duplicate{
			ObjectHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name,
				Auth: tpm2.Policy(tpm2.TPMAlgSHA256, 16, tpm2.PolicyCallback(func(tp transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
					_, err := tpm2.PolicyCommandCode{PolicySession: h, Code: tpm2.TPMCCDuplicate}.Execute(tp)
					return err
				}))},
			NewParentHandle: tpm2.TPMRHNull,
			Symmetric:       tpm2.TPMTSymDef{Algorithm: tpm2.TPMAlgNull},
		}.Execute(s.tpm)
		var rc tpm2.TPMRC
		if err == nil || !errors.As(err, &rc) {
			t.Fatalf("TPM2_Duplicate: got %v, want a refusal from the TPM", err)
		}
		t.Logf("TPM2_Duplicate refused: %v", err)

		// On disk there is only the TPM-wrapped key file: it is no private key in any format this agent
		// (or x509) reads.
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 {
			t.Fatalf("key directory holds %v, %v; want one key file", entries, err)
		}
		data, err := os.ReadFile(TPM2KeyPath(dir, "maskinporten"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParsePrivateKey(data, nil); !errors.Is(err, ErrUnsupportedKey) {
			t.Fatalf("ParsePrivateKey(key file): got %v, want ErrUnsupportedKey", err)
		}
		block, _ := pem.Decode(data)
		if block == nil || block.Type != tss2PEMType {
			t.Fatalf("key file is not a %q PEM block", tss2PEMType)
		}
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			t.Fatal("the key file parses as PKCS#8")
		}
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			t.Fatal("the key file parses as PKCS#1")
		}
		if _, err := x509.ParsePKCS8PrivateKey(blob.private.Buffer); err == nil {
			t.Fatal("the wrapped private area parses as PKCS#8")
		}

		// Another TPM (fresh state: another owner seed) refuses to load the key file.
		other := newTestTPM2(t, startSWTPM(t), dir)
		_, err = other.Signer(ctx, "maskinporten")
		if err == nil || !strings.Contains(err.Error(), "made by another TPM") || !strings.Contains(err.Error(), "agent keys generate --backend tpm2") {
			t.Fatalf("Signer on another TPM: got %v, want a refusal naming the cause and the fix", err)
		}
	})

	t.Run("reopen", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := k.Sign(nil, testDigest(), crypto.SHA256); err == nil {
			t.Fatal("a signer of a closed store signed")
		}
		s = newTestTPM2(journey, dev, dir)
		again, err := s.Signer(ctx, "maskinporten")
		if err != nil {
			t.Fatal(err)
		}
		if !again.Public().(*rsa.PublicKey).Equal(k.Public()) {
			t.Fatal("the reopened key has a different public key")
		}
		if err := g.token(t, again); err != nil {
			t.Fatalf("the sandbox refused a grant signed with the reopened key: %v", err)
		}
	})

	t.Run("rotate", func(t *testing.T) {
		active, next, err := Rotate(ctx, s, "maskinporten", 2048)
		if err != nil {
			t.Fatal(err)
		}
		if !active.Public().(*rsa.PublicKey).Equal(k.Public()) {
			t.Fatal("Rotate's active key is not the generated one")
		}
		g.addKey(t, next)
		if err := g.token(t, next); err != nil {
			t.Fatalf("the sandbox refused the next key's grant: %v", err)
		}
		prev, now, err := Activate(ctx, s, "maskinporten")
		if err != nil {
			t.Fatal(err)
		}
		if !prev.Public().(*rsa.PublicKey).Equal(k.Public()) || !now.Public().(*rsa.PublicKey).Equal(next.Public()) {
			t.Fatal("Activate returned the wrong keys")
		}
		cur := mustSigner(t, s, "maskinporten")
		if !cur.Public().(*rsa.PublicKey).Equal(next.Public()) {
			t.Fatal("the active name does not hold the new key")
		}
		g.removeKey(t, prev)
		if err := g.token(t, cur); err != nil {
			t.Fatalf("the sandbox refused the activated key's grant: %v", err)
		}
		if err := g.token(t, mustSigner(t, s, "maskinporten-previous")); err == nil {
			t.Fatal("the sandbox accepted the retired key after it was unregistered")
		}
	})
}

func TestTPM2SignOnlyRS256(t *testing.T) {
	s := newTestTPM2(t, startSWTPM(t), t.TempDir())
	k, err := s.Generate(context.Background(), "k", 2048)
	if err != nil {
		t.Fatal(err)
	}
	d1 := sha1.Sum([]byte("x"))
	d256 := sha256.Sum256([]byte("x"))
	for _, c := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"SHA-1", d1[:], crypto.SHA1},
		{"PSS", d256[:], &rsa.PSSOptions{Hash: crypto.SHA256}},
		{"short digest", d256[:20], crypto.SHA256},
	} {
		if _, err := k.Sign(nil, c.digest, c.opts); err == nil || !strings.Contains(err.Error(), "RS256 only") {
			t.Errorf("%s: got %v, want a refusal", c.name, err)
		}
	}
}

// TestTPM2NoTPM: without a TPM the error names the device and the fix.
func TestTPM2NoTPM(t *testing.T) {
	notDevice := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDevice, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	type tc struct {
		device string
		want   []string
	}
	cases := []tc{
		{filepath.Join(t.TempDir(), "tpmrm0"), []string{"no TPM at", "tpmrm0", "enable the TPM in the firmware", "backend systemd-creds"}},
		{notDevice, []string{"is not a character device", DefaultTPMDevice}},
		{SWTPMDevice("127.0.0.1", realdeps.FreePort(t)), []string{"no software TPM at", "swtpm socket --tpm2"}},
		{"swtpm:host=127.0.0.1", []string{"port is missing"}},
	}
	if _, err := os.Stat(DefaultTPMDevice); err != nil { // the default device, on a machine without a TPM
		cases = append(cases, tc{"", []string{"no TPM at " + DefaultTPMDevice}})
	}
	for _, c := range cases {
		_, err := newTPM2(t.TempDir(), "", c.device) // what Open(backend tpm2) does on Linux
		if err == nil {
			t.Errorf("%s: opened", c.device)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", c.device, err, w)
			}
		}
	}
}

// TestTPM2DamagedKeyFile: a key file that is not one, or holds a key that could be exported, is refused
// with the file named.
func TestTPM2DamagedKeyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := newTestTPM2(t, startSWTPM(t), dir)
	if err := os.WriteFile(TPM2KeyPath(dir, "junk"), []byte("-----BEGIN TSS2 PRIVATE KEY-----\nAAAA\n-----END TSS2 PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signer(ctx, "junk"); err == nil || !strings.Contains(err.Error(), "not a TPM key file") || !strings.Contains(err.Error(), TPM2KeyPath(dir, "junk")) {
		t.Errorf("junk: %v", err)
	}
	// A duplicable key (fixedParent clear) made by the same TPM is refused before it is loaded.
	tmpl := signingTemplate
	tmpl.ObjectAttributes.FixedParent = false
	tmpl.ObjectAttributes.FixedTPM = false
	rsp, err := tpm2.Create{ParentHandle: tpm2.AuthHandle{Handle: s.srk, Name: s.srkNam, Auth: tpm2.PasswordAuth(nil)}, InPublic: tpm2.New2B(tmpl)}.Execute(s.tpm)
	if err != nil {
		t.Fatal(err)
	}
	data, err := encodeTPMBlob(tpmBlob{public: rsp.OutPublic, private: rsp.OutPrivate})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(TPM2KeyPath(dir, "dup"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signer(ctx, "dup"); err == nil || !strings.Contains(err.Error(), "not a non-exportable RSA signing key") {
		t.Errorf("duplicable key: %v", err)
	}
}

// TestTPM2NewProcess: a key generated by one process signs in another (as after a service restart): the
// child opens the store afresh from the key file and the TPM, and its signature verifies with the
// public key the parent generated.
func TestTPM2NewProcess(t *testing.T) {
	if dev := os.Getenv("KEYSTORE_TPM2_CHILD_DEVICE"); dev != "" {
		s, err := newTPM2(os.Getenv("KEYSTORE_TPM2_CHILD_DIR"), "", dev)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		k, err := s.Signer(context.Background(), "maskinporten")
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256([]byte("signed in the child"))
		sig, err := k.Sign(nil, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("SIG %x\n", sig)
		return
	}
	dev, dir := startSWTPM(t), t.TempDir()
	s := newTestTPM2(t, dev, dir)
	k, err := s.Generate(context.Background(), "maskinporten", 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // the parent "stops": the socket TPM serves one client at a time
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTPM2NewProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KEYSTORE_TPM2_CHILD_DEVICE="+dev, "KEYSTORE_TPM2_CHILD_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var sig []byte
	for _, l := range strings.Split(string(out), "\n") {
		if h, ok := strings.CutPrefix(l, "SIG "); ok {
			sig, _ = hex.DecodeString(h)
		}
	}
	d := sha256.Sum256([]byte("signed in the child"))
	if err := rsa.VerifyPKCS1v15(k.Public().(*rsa.PublicKey), crypto.SHA256, d[:], sig); err != nil {
		t.Fatalf("the child's signature does not verify with the generated key: %v\n%s", err, out)
	}
}
