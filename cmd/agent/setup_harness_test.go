package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
	"github.com/systemuser-agent/systemuser-agent/setup"

	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

const wizScope = "altinn:systembruker.demo"

// wizEnv is a running sandbox, a key registered on its Maskinporten client (as a PEM file to import),
// and the paths one setup uses.
type wizEnv struct {
	t                         *testing.T
	sb                        *sandbox.Sandbox
	dir                       string
	cfgPath, stateDir, keyDir string
	keyFile, secretFile       string
	listen                    string
}

func newWizEnv(t *testing.T) *wizEnv {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	dir := t.TempDir()
	w := &wizEnv{t: t, sb: sb, dir: dir, cfgPath: filepath.Join(dir, "etc", "config.yaml"), stateDir: filepath.Join(dir, "state"),
		keyDir: filepath.Join(dir, "keys"), keyFile: filepath.Join(dir, "import.pem"), secretFile: filepath.Join(dir, "callers", "sap.secret"),
		listen: freeLoopbackAddr(t)}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	w.registerClient(key.Public())
	return w
}

// registerClient registers client-1 of testOrg in the sandbox with pub under its thumbprint kid.
func (w *wizEnv) registerClient(pub any) {
	w.t.Helper()
	kid, err := keystore.Thumbprint(pub)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.sb.RegisterClient(sandbox.Client{ID: "client-1", Org: testOrg, Scopes: append(registry.Scopes(), wizScope),
		Keys: []sandbox.ClientKey{{KID: kid, Public: pub}}}); err != nil {
		w.t.Fatal(err)
	}
}

// flags are a complete non-interactive setup importing the registered key, with two system users and
// one caller, without the OS service.
func (w *wizEnv) flags(extra ...string) []string {
	args := []string{"setup", "--non-interactive", "--config", w.cfgPath, "--state-dir", w.stateDir,
		"--org", testOrg, "--client-id", "client-1", "--environment", "sandbox", "--sandbox-url", w.sb.URL(),
		"--system-id", "sap-local", "--system-name", "SAP lokal", "--rights", sandbox.ResourceExample,
		"--system-user", "name=default scopes=" + wizScope, "--system-user", "name=payroll ref=payroll scopes=" + wizScope,
		"--key-backend", "file", "--key-path", w.keyDir, "--key", "import", "--key-file", w.keyFile,
		"--listen", w.listen, "--caller", "id=sap os-user=" + currentUser() + " secret-file=" + w.secretFile,
		"--no-service", "--poll-interval", "5ms", "--max-poll-interval", "20ms"}
	return append(args, extra...)
}

// approveAll approves every new request as an administrator would, until ctx ends.
func (w *wizEnv) approveAll(ctx context.Context) {
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			for _, r := range w.sb.Requests() {
				if r.Status == "New" && !r.Deleted {
					_ = w.sb.Approve(r.ID)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// runResult is one in-process run of the agent command.
type runResult struct {
	code           int
	stdout, stderr string
}

func runCmd(ctx context.Context, args []string, stdin io.Reader) runResult {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut testlog.Buffer
	code := run(ctx, args, &env{stdin: stdin, stdout: &out, stderr: &errOut})
	return runResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// buildAgent builds the agent binary into a temporary directory.
func buildAgent(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("builds the agent with the go tool, which the wine prefix lacks; packaging.TestWineEndToEnd runs a real agent.exe")
	}
	bin := filepath.Join(t.TempDir(), "agent")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveAndGetToken starts `agent run` from bin on the config and gets a token as caller id with the
// secret in secretFile; it returns the access token.
func serveAndGetToken(t *testing.T, bin, cfgPath, stateDir, listen, id, secretFile string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs testlog.Buffer
	cmd := exec.CommandContext(ctx, bin, "run", "--config", cfgPath, "--state-dir", stateDir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		tok, err := setup.LocalToken(context.Background(), http.DefaultClient, "http://"+listen+"/oauth2/token", id, string(secret))
		if err == nil {
			return tok
		}
		if time.Now().After(deadline) {
			t.Fatalf("no token from the running agent: %v\nits log:\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
