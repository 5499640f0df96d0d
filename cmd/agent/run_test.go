package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestRunOnSandboxConfig is the foundation's must-show: "agent run" on a sandbox config answers curl with a
// token; a wrong secret gets 401 invalid_client; an unlisted scope gets 400 invalid_scope.
func TestRunOnSandboxConfig(t *testing.T) {
	curl := realdeps.Tool(t, "curl", "apt-get install curl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, cfgPath, secret, listen := startSandboxAgentConfig(t, "altinn:other")
	done, stderr := serveInProcess(t, ctx, cfgPath, listen)

	tokenURL := "http://" + listen + "/oauth2/token"
	for _, tc := range []struct {
		name, user, scope string
		wantCode          string
		wantBody          string
	}{
		{"token", "sap:" + secret, "", "200", `"access_token"`},
		{"wrong secret", "sap:wrong-" + secret[:8], "", "401", `"invalid_client"`},
		{"unlisted scope", "sap:" + secret, "altinn:other", "400", `"invalid_scope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-sS", "-w", "\n%{http_code}", "-u", tc.user, "-d", "grant_type=client_credentials"}
			if tc.scope != "" {
				args = append(args, "-d", "scope="+tc.scope)
			}
			out, err := exec.CommandContext(ctx, curl, append(args, tokenURL)...).Output()
			if err != nil {
				t.Fatalf("curl: %v", err)
			}
			s := strings.TrimSpace(string(out))
			i := strings.LastIndex(s, "\n")
			body, code := s[:max(i, 0)], s[i+1:]
			if code != tc.wantCode || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("HTTP %s (body of %d bytes), want %s with %s", code, len(body), tc.wantCode, tc.wantBody)
			}
		})
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("run exited %d after cancel; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop within 15 s of cancel")
	}
	if strings.Contains(stderr.String(), secret) {
		t.Error("the caller secret appeared in the agent's log")
	}
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveInProcess runs "agent run" on cfgPath, with its state beside it, in this process until ctx ends,
// and waits until listen answers /healthz. It returns run's exit code to come and its stderr.
func serveInProcess(t *testing.T, ctx context.Context, cfgPath, listen string) (<-chan int, *bytes.Buffer) {
	t.Helper()
	stderr := new(bytes.Buffer)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config", cfgPath, "--state-dir", filepath.Join(filepath.Dir(cfgPath), "state")},
			&env{stdin: new(bytes.Buffer), stdout: new(bytes.Buffer), stderr: stderr})
	}()
	waitHealthy(t, "http://"+listen+"/healthz", done, stderr)
	return done, stderr
}

// waitHealthy polls url until it answers 200, failing if run exits first or 20 s pass.
func waitHealthy(t *testing.T, url string, done <-chan int, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("run exited %d before serving; stderr:\n%s", code, stderr.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within 20 s; stderr:\n%s", url, stderr.String())
}

// sandboxConfig seeds the sandbox with the organisation's system (listing clientID) and an accepted
// system user, and writes a config for them: file-backend key in keyDir, one caller "sap" with the
// given secret digest. It returns the config's path.
func sandboxConfig(t *testing.T, sb *sandbox.Sandbox, dir, clientID, keyDir, listen, digest string) string {
	t.Helper()
	sysID := setup.DemoOrg + "_run"
	if err := sb.SeedSystem(sandbox.SystemSeed{ID: sysID, ClientIDs: []string{clientID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.SeedSystemUser(sysID, setup.DemoOrg, ""); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	writeSandboxConfig(t, cfgPath, sb, clientID, keyDir, sysID, listen, digest)
	return cfgPath
}

// writeSandboxConfig writes to cfgPath a config for the sandbox sb: the organisation's system sysID on
// Maskinporten client clientID, a file-backend key in keyDir, one system user "default" and one caller
// "sap" with the given secret digest, serving on listen.
func writeSandboxConfig(t *testing.T, cfgPath string, sb *sandbox.Sandbox, clientID, keyDir, sysID, listen, digest string) {
	t.Helper()
	writeFile(t, cfgPath, fmt.Sprintf(`environment: sandbox
endpoints:
  maskinporten_issuer: %s
  maskinporten_token: %s
  altinn: %s
organization: "%s"
maskinporten:
  client_id: %s
  key: {backend: file, name: maskinporten, path: %s}
system:
  id: %s
  name: {nb: Kjøring, nn: Køyring, en: Run}
  description: {nb: Test, nn: Test, en: Test}
  rights: [{resource: example-resource}]
system_users:
  - name: default
    scopes: [%s]
listen: %s
clients:
  - id: sap
    secret_sha256: %s
    system_users: [default]
    scopes: [%s]
`, sb.MaskinportenIssuer(), sb.MaskinportenTokenURL(), sb.AltinnURL(), setup.DemoOrg, clientID, keyDir, sysID, setup.DemoScope, listen, digest, setup.DemoScope))
}

// startSandboxAgentConfig starts a sandbox, makes a file-backend key, registers its public key on a new
// Maskinporten client (with setup.DemoScope and extraScopes), seeds the system and an accepted system user, and
// writes a config for "agent run" in a temporary directory. It returns the sandbox, the config's path, the
// caller "sap"'s secret and the listen address.
func startSandboxAgentConfig(t *testing.T, extraScopes ...string) (sb *sandbox.Sandbox, cfgPath, secret, listen string) {
	t.Helper()
	f := newAgentFixture(t, sandbox.Options{}, extraScopes...)
	return f.sb, f.cfgPath, f.secret, f.listen
}

// agentFixture is what startSandboxAgentConfig makes, with the parts a key rotation test needs too.
type agentFixture struct {
	sb                                        *sandbox.Sandbox
	dir, keyDir, cfgPath, secret, listen, kid string
	clientID                                  string
	ks                                        keystore.Store
}

// newAgentFixture is startSandboxAgentConfig with the sandbox's options.
func newAgentFixture(t *testing.T, opts sandbox.Options, extraScopes ...string) *agentFixture {
	t.Helper()
	f := &agentFixture{sb: sandbox.New(opts), dir: t.TempDir()}
	if err := f.sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.sb.Close() })
	f.keyDir = filepath.Join(f.dir, "keys")
	ks, err := keystore.Open(keystore.Options{Backend: keystore.BackendFile, Dir: f.keyDir, AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	f.ks = ks
	signer, err := ks.Generate(t.Context(), "maskinporten", 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.kid, _ = keystore.Thumbprint(signer.Public())
	f.clientID = setup.NewDemoID()
	if err := f.sb.RegisterClient(sandbox.Client{ID: f.clientID, Org: setup.DemoOrg, Scopes: append([]string{setup.DemoScope}, extraScopes...),
		Keys: []sandbox.ClientKey{{KID: f.kid, Public: signer.Public().(*rsa.PublicKey)}}}); err != nil {
		t.Fatal(err)
	}
	cs, err := callersecret.New()
	if err != nil {
		t.Fatal(err)
	}
	f.secret = string(cs.Reveal())
	f.listen = freeLoopbackAddr(t)
	f.cfgPath = sandboxConfig(t, f.sb, f.dir, f.clientID, f.keyDir, f.listen, cs.Digest())
	return f
}
