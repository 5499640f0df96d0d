package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// checkEnd asserts the end state every complete setup reaches: one system, one request per externalRef
// (none deleted, all accepted), a system user each, and the caller's secret file matching the config.
func checkEnd(t *testing.T, w *wizEnv) *config.Config {
	t.Helper()
	if n := len(w.sb.Systems()); n != 1 {
		t.Errorf("%d systems in the sandbox, want 1", n)
	}
	refs := map[string]int{}
	for _, r := range w.sb.Requests() {
		if r.Deleted || r.Status != "Accepted" {
			t.Errorf("request %+v: want accepted, not deleted", r)
		}
		refs[r.ExternalRef]++
	}
	if len(refs) != 2 || refs[testOrg] != 1 && refs[""] != 1 || refs["payroll"] != 1 {
		t.Errorf("requests by externalRef %v, want one each for the organisation and payroll", refs)
	}
	if n := len(w.sb.SystemUsers()); n != 2 {
		t.Errorf("%d system users, want 2", n)
	}
	cfg, err := config.Load(w.cfgPath)
	if err != nil {
		t.Fatalf("the written config does not load: %v", err)
	}
	cl, ok := cfg.Client("sap")
	if !ok {
		t.Fatal("no caller sap in the config")
	}
	secret, err := os.ReadFile(w.secretFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(secret)
	if cl.SecretSHA256 != hex.EncodeToString(sum[:]) {
		t.Error("the config's digest does not match the secret file")
	}
	raw, _ := os.ReadFile(w.cfgPath)
	if strings.Contains(string(raw), string(secret)) {
		t.Error("the config holds the secret itself")
	}
	fi, err := os.Stat(w.secretFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o400 || fileUID(fi) != os.Geteuid() {
		t.Errorf("secret file mode %v uid %d, want 0400 owned by %d", fi.Mode().Perm(), fileUID(fi), os.Geteuid())
	}
	return cfg
}

// noSecretIn fails if out holds the caller secret or the imported key.
func noSecretIn(t *testing.T, w *wizEnv, outs ...string) {
	t.Helper()
	secret, _ := os.ReadFile(w.secretFile)
	key, _ := os.ReadFile(w.keyFile)
	body := strings.Join(strings.Split(string(key), "\n")[1:3], "")
	for _, out := range outs {
		if len(secret) > 0 && strings.Contains(out, string(secret)) {
			t.Error("output contains the caller secret")
		}
		if strings.Contains(out, body) {
			t.Error("output contains the private key")
		}
	}
}

func TestSetupNonInteractiveToServedToken(t *testing.T) {
	skipFileBackendOnWindows(t)
	w := newWizEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.approveAll(ctx)
	res := runCmd(ctx, w.flags(), nil)
	if res.code != exitOK {
		t.Fatalf("setup exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	checkEnd(t, w)
	for _, want := range []string{"APPROVAL NEEDED", "saved " + w.cfgPath, "secret written to " + w.secretFile, "nothing serves tokens yet (no service installed): start serving at http://" + w.listen + "/oauth2/token with: agent run --config " + w.cfgPath} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}
	noSecretIn(t, w, res.stdout, res.stderr)
	tok := serveAndGetToken(t, buildAgent(t), w.cfgPath, w.stateDir, w.listen, "sap", w.secretFile)
	claims, err := w.sb.VerifyAccessToken(tok)
	if err != nil {
		t.Fatalf("the served token does not verify: %v", err)
	}
	if claims["client_id"] != "client-1" {
		t.Errorf("served token claims %v", claims)
	}
}

// TestSetupStoppedThenRerun stops setup once its requests are sent (Ctrl-C, and --no-wait's exit 3),
// then runs it again to the same end: nothing created twice.
func TestSetupStoppedThenRerun(t *testing.T) {
	skipFileBackendOnWindows(t)
	for _, how := range []string{"cancel", "no-wait"} {
		t.Run(how, func(t *testing.T) {
			w := newWizEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			first := w.flags()
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			want := exitInterrupted
			if how == "no-wait" {
				first, want = w.flags("--no-wait"), exitWaiting
			} else {
				go func() { // Ctrl-C once both requests are out and saved (a reply still on its way would be lost)
					for runCtx.Err() == nil {
						st, err := config.LoadState(w.stateDir)
						if err == nil && st.SystemUsers["default"].RequestID != "" && st.SystemUsers["payroll"].RequestID != "" {
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
					stop()
				}()
			}
			res := runCmd(runCtx, first, nil)
			if res.code != want {
				t.Fatalf("first run exit %d, want %d\n%s\n%s", res.code, want, res.stdout, res.stderr)
			}
			if how == "cancel" && (!strings.Contains(res.stderr, "run `agent setup` again to resume") || strings.Contains(res.stderr, "context canceled")) {
				t.Errorf("stopped run says:\n%s", res.stderr)
			}
			if n := len(w.sb.Requests()); n != 2 {
				t.Fatalf("%d requests after the first run, want 2", n)
			}
			st, err := config.LoadState(w.stateDir)
			if err != nil || st.SystemUsers["payroll"].RequestID == "" {
				t.Fatalf("state after the first run: %+v, %v", st, err)
			}
			w.approveAll(ctx)
			res = runCmd(ctx, w.flags(), nil)
			if res.code != exitOK {
				t.Fatalf("re-run exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
			}
			checkEnd(t, w)
			if n := len(w.sb.Requests()); n != 2 {
				t.Errorf("%d requests after the re-run, want the same 2", n)
			}
			// A third run changes nothing and says so.
			res = runCmd(ctx, w.flags(), nil)
			if res.code != exitOK || !strings.Contains(res.stdout, "in place") {
				t.Errorf("third run exit %d:\n%s\n%s", res.code, res.stdout, res.stderr)
			}
			checkEnd(t, w)
		})
	}
}

// TestSetupWithoutTerminal stops at once (exit 2) with the flags it needs, writing nothing.
func TestSetupWithoutTerminal(t *testing.T) {
	w := newWizEnv(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"nothing given", []string{"setup", "--config", w.cfgPath, "--state-dir", w.stateDir},
			[]string{"no terminal", "--non-interactive", "--org", "--client-id", "--system-user", "--access-packages"}},
		{"every answer given", withoutFlag(w.flags(), "--non-interactive"),
			[]string{"no terminal", "add --non-interactive"}},
		{"non-interactive, answers missing", []string{"setup", "--non-interactive", "--config", w.cfgPath, "--org", testOrg},
			[]string{"these are missing", "--client-id", "--system-user"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCmd(context.Background(), tt.args, nil)
			if res.code != exitUsage {
				t.Fatalf("exit %d, want 2\n%s", res.code, res.stderr)
			}
			for _, s := range tt.want {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, res.stderr)
				}
			}
			if strings.Contains(res.stderr, "--org ") && tt.name == "non-interactive, answers missing" {
				t.Errorf("--org was given but is listed as missing:\n%s", res.stderr)
			}
			if _, err := os.Stat(w.cfgPath); !os.IsNotExist(err) {
				t.Errorf("a config was written: %v", err)
			}
			if len(w.sb.Systems()) != 0 {
				t.Error("something was registered")
			}
		})
	}
}

func withoutFlag(args []string, flag string) []string {
	var out []string
	for _, a := range args {
		if a != flag {
			out = append(out, a)
		}
	}
	return out
}

// TestSetupKeyFromStdin imports the key from stdin (--key-file -), never from a flag value, and keeps it
// on a second run; a different key under the same name is refused.
func TestSetupKeyFromStdin(t *testing.T) {
	skipFileBackendOnWindows(t)
	w := newWizEnv(t)
	pemBytes, err := os.ReadFile(w.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	args := withoutFlag(w.flags("--no-wait"), w.keyFile)
	for i, a := range args {
		if a == "--key-file" {
			args = append(args[:i+1], append([]string{"-"}, args[i+1:]...)...)
			break
		}
	}
	for run := 0; run < 2; run++ {
		res := runCmd(context.Background(), args, strings.NewReader(string(pemBytes)))
		if res.code != exitWaiting {
			t.Fatalf("run %d: exit %d, want 3 (waiting)\n%s\n%s", run, res.code, res.stdout, res.stderr)
		}
		want := "imported"
		if run == 1 {
			want = "(kept)"
		}
		if !strings.Contains(res.stdout, want) {
			t.Errorf("run %d: stdout lacks %q:\n%s", run, want, res.stdout)
		}
		noSecretIn(t, w, res.stdout, res.stderr)
	}
	other := newWizEnv(t)
	otherPEM, _ := os.ReadFile(other.keyFile)
	res := runCmd(context.Background(), args, strings.NewReader(string(otherPEM)))
	if res.code != exitError || !strings.Contains(res.stdout+res.stderr, "another key named \"maskinporten\"") {
		t.Errorf("a different key: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestSetupNoServicePortTaken: with --no-service and another program on the listen address, setup does
// not promise tokens; it says the address is taken and what to run once it is free.
func TestSetupNoServicePortTaken(t *testing.T) {
	skipFileBackendOnWindows(t)
	w := newWizEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	squatter, err := net.Listen("tcp", w.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	w.approveAll(ctx)
	res := runCmd(ctx, w.flags(), nil)
	if res.code != exitOK || !strings.Contains(res.stdout, w.listen+" is taken by another program") ||
		!strings.Contains(res.stdout, "agent run --config "+w.cfgPath) || strings.Contains(res.stdout, "tokens are served at") {
		t.Errorf("setup exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

// TestSetupFailureSaidOnce: a step that fails prints its reason once, on its ✗ line, with the Altinn
// code; the last line only says where to look and how to resume.
func TestSetupFailureSaidOnce(t *testing.T) {
	skipFileBackendOnWindows(t)
	w := newWizEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := w.flags()
	for i, a := range args {
		if a == sandbox.ResourceExample {
			args[i] = "no-such-resource"
		}
	}
	res := runCmd(ctx, args, nil)
	out := res.stdout + res.stderr
	if res.code != exitError || !strings.Contains(res.stdout, "✗") || !strings.Contains(out, "AUTH.VLD-00003") ||
		strings.Count(out, "AUTH.VLD-00003") != 1 || !strings.Contains(res.stderr, "stopped at the ✗ step above") {
		t.Errorf("setup exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}
