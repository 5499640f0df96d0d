//go:build !windows

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/jwks"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// uploadFixture is a server whose Maskinporten client also holds another server's key (listed in
// maskinporten.other_keys_file), and an admin client "admin-<org>" with the self-service scopes.
type uploadFixture struct {
	bin        string
	sb         *sandbox.Sandbox
	s, other   *server
	otherFile  string
	base       string // the config with other_keys_file, without an admin client
	adminID    string
	adminBlock string // maskinporten.admin's common part: client id, self-service URL
}

func newUploadFixture(t *testing.T) *uploadFixture {
	t.Helper()
	f := &uploadFixture{bin: buildAgent(t), sb: sandbox.New(sandbox.Options{}), adminID: "admin-" + setup.DemoOrg}
	if err := f.sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.sb.Close() })
	f.s = newServer(t, f.sb, setup.NewDemoID(), setup.DemoOrg+"_keys")
	f.other = newServer(t, f.sb, f.s.clientID, setup.DemoOrg+"_keys")
	otherKey, err := jwks.FromPublic(f.other.public(t, "maskinporten"), f.other.kid)
	if err != nil {
		t.Fatal(err)
	}
	f.otherFile = filepath.Join(f.s.dir, "other-servers.jwks")
	data, _ := json.Marshal(jwks.Set{Keys: []jwks.Key{otherKey}})
	writeFile(t, f.otherFile, string(data))
	if err := f.sb.RegisterClient(sandbox.Client{ID: f.s.clientID, Org: setup.DemoOrg, Scopes: []string{setup.DemoScope},
		Keys: []sandbox.ClientKey{{KID: f.s.kid, Public: f.s.public(t, "maskinporten")}, {KID: f.other.kid, Public: f.other.public(t, "maskinporten")}}}); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(f.s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	f.base = strings.Replace(string(cfg), "  key: {backend: file", "  other_keys_file: "+f.otherFile+"\n  key: {backend: file", 1)
	f.adminBlock = "client_id: " + f.adminID + ", self_service_url: " + f.sb.SelfServiceURL()
	return f
}

// withAdmin writes the config with maskinporten.admin {common part, extra}, the admin key "admin" in the
// server's file key store.
func (f *uploadFixture) withAdmin(t *testing.T, extra string) {
	t.Helper()
	writeFile(t, f.s.cfgPath, strings.Replace(f.base, "  key: {backend: file", "  admin: {"+f.adminBlock+extra+
		", key: {backend: file, name: admin, path: "+filepath.Join(f.s.dir, "keys")+"}}\n  key: {backend: file", 1))
}

// run runs an agent command of the server and returns its output and error.
func (f *uploadFixture) run(args ...string) (string, error) {
	out, err := exec.Command(f.bin, append(args, "--config", f.s.cfgPath, "--state-dir", filepath.Join(f.s.dir, "state"))...).CombinedOutput()
	return string(out), err
}

// TestKeysUploadKeepsOtherServers: during a rotation `agent keys jwks` prints this server's active and
// next keys plus the other server's key from maskinporten.other_keys_file; `agent keys upload` with an
// admin client that signs with the organisation's enterprise certificate (x5c, imported with its chain by
// `agent keys import`) posts that set through the self-service API (the other server's key stays
// registered) and records the expiry read back. Without an admin client it prints the set and asks for
// `--uploaded`, which records the expiry as one year from now.
func TestKeysUploadKeepsOtherServers(t *testing.T) {
	f := newUploadFixture(t)
	s, sb := f.s, f.sb
	// The enterprise certificate: a test certificate of the sandbox's test CA, for a key made here,
	// imported as a PEM bundle (key + chain) the way a PKCS#12 export is.
	adminKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := sb.EnterpriseCertificate(setup.DemoOrg, &adminKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(adminKey)
	bundle := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for _, c := range chain {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	bundleFile := filepath.Join(t.TempDir(), "virksomhetssertifikat.pem")
	writeFile(t, bundleFile, string(bundle))
	if out, err := exec.Command(f.bin, "keys", "import", "--backend", "file", "--path", filepath.Join(s.dir, "keys"), "--name", "admin",
		"--file", bundleFile).CombinedOutput(); err != nil {
		t.Fatalf("import the enterprise certificate: %v\n%s", err, out)
	}
	// The admin client has no registered key: it authenticates with the certificate only.
	if err := sb.RegisterClient(sandbox.Client{ID: f.adminID, Org: setup.DemoOrg, Scopes: []string{jwks.ScopeRead, jwks.ScopeWrite}}); err != nil {
		t.Fatal(err)
	}
	f.withAdmin(t, ", scopes: [idporten:dcr.read, idporten:dcr.write]")

	s.agent(t, f.bin, "keys", "rotate")
	next := s.public(t, keystore.NextName("maskinporten"))
	nextKID, _ := keystore.Thumbprint(next)
	var printed jwks.Set
	if err := json.Unmarshal([]byte(s.agent(t, f.bin, "keys", "jwks")), &printed); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range printed.Keys {
		kids = append(kids, k.Kid)
	}
	if strings.Join(kids, ",") != s.kid+","+nextKID+","+f.other.kid {
		t.Fatalf("agent keys jwks: kids %v, want this server's active and next, then the other server's", kids)
	}
	s.agent(t, f.bin, "keys", "upload")
	registered, _ := sb.ClientKeys(s.clientID)
	if len(registered) != 3 || registered[1].KID != nextKID || registered[2].KID != f.other.kid {
		t.Fatalf("registered after upload: %+v (the printed set, the other server's key kept)", registered)
	}
	if n := sb.Stats().TokensByKey; len(n) == 0 {
		t.Fatal("no admin token was issued")
	}
	st, err := config.LoadState(filepath.Join(s.dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	for i, kid := range []string{s.kid, nextKID} {
		if k := st.Keys[kid]; k.Source != "self-service" || !k.Expires.Equal(registered[i].Expires.Truncate(time.Second).UTC()) {
			t.Fatalf("recorded expiry of %s: %+v, want the self-service API's %s", kid, k, registered[i].Expires)
		}
	}

	// Without an admin client: the set is printed with the instruction, and --uploaded records it.
	writeFile(t, s.cfgPath, f.base)
	out := s.agent(t, f.bin, "keys", "upload")
	if !strings.Contains(out, "agent keys upload --uploaded") || !strings.Contains(out, f.other.kid) {
		t.Fatalf("upload without an admin client:\n%s", out)
	}
	s.agent(t, f.bin, "keys", "upload", "--uploaded")
	st, _ = config.LoadState(filepath.Join(s.dir, "state"))
	if k := st.Keys[s.kid]; k.Source != "confirmed" || time.Until(k.Expires) < 364*24*time.Hour {
		t.Fatalf("confirmed expiry %+v", k)
	}
}

// TestKeysUploadKidAdminRefused: an admin client that signs with a registered key (grant_header kid) gets
// its Maskinporten token, but the self-service API refuses it for want of the enterprise certificate: the
// command fails with the API's code (HTTP 403 access_denied) and the fix, and the keys stay as they were.
func TestKeysUploadKidAdminRefused(t *testing.T) {
	f := newUploadFixture(t)
	adminKey, err := f.s.ks.Generate(t.Context(), "admin", 2048)
	if err != nil {
		t.Fatal(err)
	}
	adminKID, _ := keystore.Thumbprint(adminKey.Public())
	if err := f.sb.RegisterClient(sandbox.Client{ID: f.adminID, Org: setup.DemoOrg, Scopes: []string{jwks.ScopeRead, jwks.ScopeWrite},
		Keys: []sandbox.ClientKey{{KID: adminKID, Public: adminKey.Public()}}}); err != nil {
		t.Fatal(err)
	}
	f.withAdmin(t, ", grant_header: kid")
	before, _ := f.sb.ClientKeys(f.s.clientID)
	out, err := f.run("keys", "upload")
	if err == nil {
		t.Fatalf("a kid-signed admin client uploaded:\n%s", out)
	}
	t.Logf("agent keys upload:\n%s", out)
	for _, want := range []string{"HTTP 403 access_denied", "enterprise certificate", "fix: maskinporten.admin.grant_header is kid",
		"agent keys import --backend file --path " + filepath.Join(f.s.dir, "keys") + " --name admin", "remove maskinporten.admin.grant_header"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if after, _ := f.sb.ClientKeys(f.s.clientID); len(after) != len(before) || after[0].KID != before[0].KID || after[1].KID != before[1].KID {
		t.Fatalf("keys changed by a refused upload: %+v → %+v", before, after)
	}
	if f.sb.Stats().TokensIssued != 1 {
		t.Fatalf("tokens issued %d, want the one admin token the API refused", f.sb.Stats().TokensIssued)
	}
}

// TestKeysUploadChainlessAdminKey: the admin client signs with x5c (the default) but its key has no
// certificate chain: `agent keys upload` refuses before anything is sent (no token request reaches
// Maskinporten), naming maskinporten.admin.key and the import that fixes it.
func TestKeysUploadChainlessAdminKey(t *testing.T) {
	f := newUploadFixture(t)
	if _, err := f.s.ks.Generate(t.Context(), "admin", 2048); err != nil {
		t.Fatal(err)
	}
	if err := f.sb.RegisterClient(sandbox.Client{ID: f.adminID, Org: setup.DemoOrg, Scopes: []string{jwks.ScopeRead, jwks.ScopeWrite}}); err != nil {
		t.Fatal(err)
	}
	f.withAdmin(t, "")
	out, err := f.run("keys", "upload")
	if err == nil {
		t.Fatalf("a chainless admin key uploaded:\n%s", out)
	}
	t.Logf("agent keys upload:\n%s", out)
	for _, want := range []string{"maskinporten.admin.key", "no certificate chain", "nothing was sent", "agent keys import --backend file --path " + filepath.Join(f.s.dir, "keys") + " --name admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := f.sb.Stats().TokenRequests; n != 0 {
		t.Fatalf("%d token request(s) reached Maskinporten, want none", n)
	}
}
