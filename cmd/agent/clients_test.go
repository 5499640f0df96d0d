package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/internal/winelane"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// liveSandboxURL starts a sandbox for the test and returns its URL: the wizard checks that one answers.
func liveSandboxURL(t *testing.T) string {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb.URL()
}

// clientsConfig writes a valid config without callers and returns its path.
func clientsConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := &config.Config{Environment: config.EnvSandbox, Endpoints: setup.SandboxEndpoints(liveSandboxURL(t)), Organization: testOrg,
		Maskinporten: config.Maskinporten{ClientID: "client-1", Key: config.KeyRef{Backend: "file", Name: "maskinporten", Path: filepath.Join(dir, "keys")}},
		System: config.System{ID: testOrg + "_x", Name: config.Texts{NB: "x", NN: "x", EN: "x"}, Description: config.Texts{NB: "x", NN: "x", EN: "x"},
			Rights: []config.Right{{Resource: "example-resource"}}},
		SystemUsers: []config.SystemUser{{Name: "default", Scopes: []string{"a:one", "a:two"}}, {Name: "payroll", ExternalRef: "p", Scopes: []string{"a:three"}}},
	}
	path := filepath.Join(dir, "etc", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestClientsAddListRotateRemove(t *testing.T) {
	winelane.Skip(t, "wine does not keep the protected DACL the agent gives the secret folder (it reads back unprotected), so the agent's own check refuses it; docs/windows-test-plan.md step 13")
	cfgPath := clientsConfig(t)
	dir := filepath.Dir(filepath.Dir(cfgPath))
	secretFile := filepath.Join(dir, "callers", "sap.secret")
	me := currentUser()
	clients := func(args ...string) runResult {
		return runCmd(context.Background(), append([]string{"clients", args[0], "--config", cfgPath}, args[1:]...), nil)
	}
	var outputs []string
	res := clients("add", "sap", "--os-user", me, "--system-users", "default", "--secret-file", secretFile)
	outputs = append(outputs, res.stdout, res.stderr)
	if res.code != exitOK {
		t.Fatalf("add: %d %s", res.code, res.stderr)
	}
	secret, err := os.ReadFile(secretFile)
	if err != nil || len(secret) != 43 {
		t.Fatalf("secret file: %q, %v (want 43 base64url characters: 256 bits)", secret, err)
	}
	fi, _ := os.Stat(secretFile)
	if fi.Mode().Perm() != 0o400 || fileUID(fi) != os.Geteuid() {
		t.Errorf("secret file mode %v owner %d", fi.Mode().Perm(), fileUID(fi))
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := cfg.Client("sap")
	if cl.SecretSHA256 != sha(secret) || cl.OSUser != me || strings.Join(cl.Scopes, ",") != "a:one,a:two" || cl.SecretFile != secretFile {
		t.Errorf("config entry %+v", cl)
	}
	if raw, _ := os.ReadFile(cfgPath); bytes.Contains(raw, secret) {
		t.Error("the config holds the secret")
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"add", "sap", "--os-user", me}, exitUsage, "already set up"},
		{[]string{"add", "other", "--os-user", me, "--secret-file", secretFile}, exitError, "already exists"},
		{[]string{"add", "other", "--secret-file", "-"}, exitUsage, "needs --print-secret"},
		{[]string{"add", "other"}, exitUsage, "--os-user is required"},
		{[]string{"add", "other", "--os-user", me, "--scopes", "a:three"}, exitUsage, "not a scope of the caller's system users"},
		{[]string{"add", "other", "--os-user", "no-such-user-x"}, exitUsage, "no-such-user-x"},
		{[]string{"rotate", "nobody-here"}, exitError, "no caller"},
	} {
		res := clients(tt.args...)
		outputs = append(outputs, res.stdout, res.stderr)
		if res.code != tt.code || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tt.args, res.code, res.stderr, tt.code, tt.want)
		}
	}

	res = clients("add", "printed", "--os-user", me, "--system-users", "payroll", "--secret-file", "-", "--print-secret", "--json")
	if res.code != exitOK {
		t.Fatalf("add --print-secret: %s", res.stderr)
	}
	var added struct {
		Secret       string `json:"secret"`
		SecretSHA256 string `json:"secret_sha256"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &added); err != nil || len(added.Secret) != 43 || sha([]byte(added.Secret)) != added.SecretSHA256 {
		t.Fatalf("--print-secret --json: %s (%v)", res.stdout, err)
	}

	res = clients("list")
	outputs = append(outputs, res.stdout, res.stderr)
	if res.code != exitOK || !strings.Contains(res.stdout, secretFile+": ok") || !strings.Contains(res.stdout, "printed") {
		t.Errorf("list:\n%s", res.stdout)
	}

	res = clients("rotate", "sap")
	outputs = append(outputs, res.stdout, res.stderr)
	if res.code != exitOK {
		t.Fatalf("rotate: %s", res.stderr)
	}
	rotated, _ := os.ReadFile(secretFile)
	cfg, _ = config.Load(cfgPath)
	cl, _ = cfg.Client("sap")
	if bytes.Equal(rotated, secret) || cl.SecretSHA256 != sha(rotated) {
		t.Error("rotate did not replace the secret and its digest together")
	}
	if fi, _ := os.Stat(secretFile); fi.Mode().Perm() != 0o400 {
		t.Errorf("rotated file mode %v", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(secretFile), ".*")); len(left) != 0 {
		t.Errorf("rotate left files behind: %v", left)
	}

	for _, out := range outputs {
		for _, s := range [][]byte{secret, rotated} {
			if strings.Contains(out, string(s)) {
				t.Errorf("a secret appears in output without --print-secret: %q", out)
			}
		}
	}

	res = clients("remove", "sap")
	if res.code != exitOK {
		t.Fatalf("remove: %s", res.stderr)
	}
	if _, err := os.Stat(secretFile); !os.IsNotExist(err) {
		t.Error("remove left the secret file")
	}
	if cfg, _ := config.Load(cfgPath); len(cfg.Clients) != 1 || cfg.Clients[0].ID != "printed" {
		t.Errorf("callers after remove: %+v", cfg.Clients)
	}
}
