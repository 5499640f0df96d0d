package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// keysRun runs "agent keys args..." with stdin and returns the exit code and outputs. Every run is
// checked for private key material in its outputs against all keys the test registered.
type keysRun struct {
	t    *testing.T
	keys []*rsa.PrivateKey
}

func (r *keysRun) run(stdin string, args ...string) (int, string, string) {
	r.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"keys"}, args...), &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	for _, k := range r.keys {
		noSecret(r.t, "stdout of keys "+strings.Join(args, " "), out.Bytes(), k)
		noSecret(r.t, "stderr of keys "+strings.Join(args, " "), errb.Bytes(), k)
	}
	return code, out.String(), errb.String()
}

var cliKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// storedKey reads a key the file backend wrote, to compare and to scan for.
func storedKey(t *testing.T, dir, name string) *rsa.PrivateKey {
	t.Helper()
	s, err := keystore.Open(keystore.Options{Backend: keystore.BackendFile, Dir: dir, AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.Signer(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return keystore.KeyOnly(k).(*rsa.PrivateKey) // a PKCS#12 import comes with its certificate
}

func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON (%v):\n%s", err, s)
	}
}

type cliKeyInfo struct {
	Name, Backend, KID string
	Bits               int
	JWK                map[string]any
	Advice             string
}

func thumb(t *testing.T, k *rsa.PrivateKey) string {
	t.Helper()
	kid, err := keystore.Thumbprint(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

func TestKeysGenerate(t *testing.T) {
	skipFileBackendOnWindows(t)
	dir := filepath.Join(t.TempDir(), "keys")
	r := &keysRun{t: t}
	code, out, errOut := r.run("", "generate", "--backend", "file", "--path", dir, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "development only") {
		t.Errorf("no warning about the file backend: %q", errOut)
	}
	k := storedKey(t, dir, "maskinporten")
	r.keys = append(r.keys, k)
	noSecret(t, "generate output", []byte(out), k)
	var info cliKeyInfo
	decodeJSON(t, out, &info)
	if info.Name != "maskinporten" || info.Bits != 2048 || info.KID != thumb(t, k) || info.JWK["kid"] != info.KID {
		t.Fatalf("generate reported %+v", info)
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := info.JWK[m]; ok {
			t.Fatalf("generate printed private member %q", m)
		}
	}
	if code, _, errOut := r.run("", "generate", "--backend", "file", "--path", dir); code != exitError || !strings.Contains(errOut, "exists") {
		t.Fatalf("second generate: exit %d, %s", code, errOut)
	}
	// Text output: kid and JWK, nothing private.
	code, out, _ = r.run("", "generate", "--backend", "file", "--path", dir, "--name", "other", "--bits", "3072")
	if code != exitOK || !strings.Contains(out, "kid: ") || !strings.Contains(out, "RSA-3072") {
		t.Fatalf("text generate: exit %d\n%s", code, out)
	}
	r.keys = append(r.keys, storedKey(t, dir, "other"))
}

func TestKeysPublicListDelete(t *testing.T) {
	skipFileBackendOnWindows(t)
	dir := t.TempDir()
	r := &keysRun{t: t}
	for _, n := range []string{"maskinporten", "spare"} {
		if code, _, errOut := r.run("", "generate", "--backend", "file", "--path", dir, "--name", n); code != exitOK {
			t.Fatal(errOut)
		}
	}
	k := storedKey(t, dir, "maskinporten")
	r.keys = append(r.keys, k, storedKey(t, dir, "spare"))
	file := []string{"--backend", "file", "--path", dir}

	_, out, _ := r.run("", append([]string{"public", "--pem"}, file...)...)
	block, _ := pem.Decode([]byte(out))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("public --pem printed %q", out)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil || !k.PublicKey.Equal(pub) {
		t.Fatalf("public --pem is not the key: %v", err)
	}
	_, out, _ = r.run("", append([]string{"public"}, file...)...)
	var jwk map[string]any
	decodeJSON(t, out, &jwk)
	if jwk["kid"] != thumb(t, k) || jwk["alg"] != "RS256" || jwk["use"] != "sig" || jwk["d"] != nil {
		t.Fatalf("public printed %v", jwk)
	}

	_, out, _ = r.run("", append([]string{"list", "--json"}, file...)...)
	var list struct{ Keys []cliKeyInfo }
	decodeJSON(t, out, &list)
	if len(list.Keys) != 2 || list.Keys[0].Name != "maskinporten" || list.Keys[1].Name != "spare" || list.Keys[0].KID != thumb(t, k) {
		t.Fatalf("list = %+v", list)
	}

	if code, _, errOut := r.run("", append([]string{"delete", "--name", "spare"}, file...)...); code != exitUsage || !strings.Contains(errOut, "--yes") {
		t.Fatalf("delete without --yes: exit %d %s", code, errOut)
	}
	if code, _, errOut := r.run("", append([]string{"delete", "--name", "spare", "--yes"}, file...)...); code != exitOK {
		t.Fatal(errOut)
	}
	if code, _, errOut := r.run("", append([]string{"public", "--name", "spare"}, file...)...); code != exitError || !strings.Contains(errOut, "not found") {
		t.Fatalf("public of a deleted key: exit %d %s", code, errOut)
	}
}

func TestKeysRotateActivate(t *testing.T) {
	skipFileBackendOnWindows(t)
	dir := t.TempDir()
	file := []string{"--backend", "file", "--path", dir, "--json"}
	r := &keysRun{t: t}
	if code, _, errOut := r.run("", append([]string{"generate"}, file...)...); code != exitOK {
		t.Fatal(errOut)
	}
	old := storedKey(t, dir, "maskinporten")
	r.keys = append(r.keys, old)

	code, out, errOut := r.run("", append([]string{"rotate"}, file...)...)
	if code != exitOK {
		t.Fatal(errOut)
	}
	next := storedKey(t, dir, "maskinporten-next")
	r.keys = append(r.keys, next)
	noSecret(t, "rotate output", []byte(out), next)
	var rot struct {
		Active, Next cliKeyInfo
		JWKS         struct{ Keys []map[string]any }
	}
	decodeJSON(t, out, &rot)
	if rot.Active.KID != thumb(t, old) || rot.Next.KID != thumb(t, next) || len(rot.JWKS.Keys) != 2 ||
		rot.JWKS.Keys[0]["kid"] != rot.Active.KID || rot.JWKS.Keys[1]["kid"] != rot.Next.KID {
		t.Fatalf("rotate reported %+v", rot)
	}
	// Until activation the active name still holds the old key.
	if !storedKey(t, dir, "maskinporten").Equal(old) {
		t.Fatal("rotate replaced the active key")
	}

	code, out, errOut = r.run("", append([]string{"activate"}, file...)...)
	if code != exitOK {
		t.Fatal(errOut)
	}
	var act struct {
		Active, Previous cliKeyInfo
		FinalJWKS        struct{ Keys []map[string]any } `json:"final_jwks"`
	}
	decodeJSON(t, out, &act)
	if act.Active.KID != thumb(t, next) || act.Previous.KID != thumb(t, old) || act.Previous.Name != "maskinporten-previous" ||
		len(act.FinalJWKS.Keys) != 1 || act.FinalJWKS.Keys[0]["kid"] != act.Active.KID {
		t.Fatalf("activate reported %+v", act)
	}
	if !storedKey(t, dir, "maskinporten").Equal(next) || !storedKey(t, dir, "maskinporten-previous").Equal(old) {
		t.Fatal("after activate the keys are not where they should be")
	}

	// Text output explains the 2-minute propagation and what to update.
	if code, _, _ := r.run("", "rotate", "--backend", "file", "--path", dir); code != exitOK {
		t.Fatal("second rotate failed")
	}
	r.keys = append(r.keys, storedKey(t, dir, "maskinporten-next"))
	code, _, errOut = r.run("", "activate", "--backend", "file", "--path", dir)
	if code != exitError || !strings.Contains(errOut, "delete it first") {
		t.Fatalf("activate over an old previous key: exit %d %s", code, errOut)
	}
	if code, _, _ := r.run("", "delete", "--backend", "file", "--path", dir, "--name", "maskinporten-previous", "--yes"); code != exitOK {
		t.Fatal("delete previous failed")
	}
	code, out, _ = r.run("", "activate", "--backend", "file", "--path", dir)
	if code != exitOK || !strings.Contains(out, "2 minutes") || !strings.Contains(out, "maskinporten.kid") || !strings.Contains(out, "No running service was reloaded") || !strings.Contains(out, "systemctl reload systemuser-agent") {
		t.Fatalf("activate text: exit %d\n%s", code, out)
	}
}

func TestKeysUsage(t *testing.T) {
	skipFileBackendOnWindows(t)
	r := &keysRun{t: t}
	cases := [][]string{
		{},
		{"export"},
		{"generate", "--path", t.TempDir()},
		{"list", "stray"},
	}
	for _, args := range cases {
		if code, _, _ := r.run("", args...); code != exitUsage {
			t.Errorf("keys %v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, errOut := r.run("", "list", "--backend", "nonsense"); code != exitError || !strings.Contains(errOut, "unknown key store backend") {
		t.Errorf("unknown backend: exit %d %s", code, errOut)
	}
	if code, _, errOut := r.run("", "list", "--backend", "file"); code != exitError || !strings.Contains(errOut, "directory") {
		t.Errorf("file backend without --path: exit %d %s", code, errOut)
	}
}

// TestKeysFromConfig uses the config's maskinporten.key and kid instead of --backend.
func TestKeysFromConfig(t *testing.T) {
	skipFileBackendOnWindows(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	cfg := filepath.Join(dir, "config.yaml")
	yaml := `environment: sandbox
endpoints: {maskinporten_issuer: "http://127.0.0.1:1/", maskinporten_token: "http://127.0.0.1:1/token", altinn: "http://127.0.0.1:2"}
organization: "314250052"
maskinporten:
  client_id: client-1
  key: {backend: file, name: mp, path: "` + keys + `"}
  kid: registered-kid-1
system:
  id: 314250052_sap
  name: {nb: SAP, nn: SAP, en: SAP}
  description: {nb: d, nn: d, en: d}
system_users:
  - name: default
    scopes: [a:one]
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &keysRun{t: t}
	code, out, errOut := r.run("", "generate", "--config", cfg, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	r.keys = append(r.keys, storedKey(t, keys, "mp"))
	var info cliKeyInfo
	decodeJSON(t, out, &info)
	// The JWK carries the configured kid: the one the agent puts in its grants.
	if info.Name != "mp" || info.KID != "registered-kid-1" || info.JWK["kid"] != "registered-kid-1" {
		t.Fatalf("generate from config reported %+v", info)
	}
	// Other names get their thumbprint.
	code, out, _ = r.run("", "generate", "--config", cfg, "--name", "spare", "--json")
	decodeJSON(t, out, &info)
	if code != exitOK || info.KID != thumb(t, storedKey(t, keys, "spare")) {
		t.Fatalf("generate --name spare: exit %d, %+v", code, info)
	}
	if code, _, errOut := r.run("", "list", "--config", filepath.Join(dir, "absent.yaml")); code != exitError || !strings.Contains(errOut, "--backend") {
		t.Fatalf("missing config: exit %d %s", code, errOut)
	}
}
