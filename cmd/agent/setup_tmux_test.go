package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// tmuxTerm is one tmux server on a private socket, running one command in a real pseudo-tmuxTerm.
type tmuxTerm struct {
	t      *testing.T
	tmux   string
	socket string
}

func newTmuxTerm(t *testing.T, tmux string) *tmuxTerm {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	term := &tmuxTerm{t: t, tmux: tmux, socket: "agent-test-" + hex.EncodeToString(b)}
	t.Cleanup(func() { _, _ = term.cmd("kill-server") })
	return term
}

func (m *tmuxTerm) cmd(args ...string) (string, error) {
	out, err := exec.Command(m.tmux, append([]string{"-L", m.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// start runs shell command line in a new 220x60 window; the shell prints the exit code and stays.
func (m *tmuxTerm) start(name, line string) {
	m.t.Helper()
	if out, err := m.cmd("new-session", "-d", "-s", name, "-x", "220", "-y", "60", line+`; echo "EXIT=$?"; sleep 600`); err != nil {
		m.t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
}

// screen is the window's text, wrapped lines joined, with its scroll-back.
func (m *tmuxTerm) screen(name string) string {
	out, _ := m.cmd("capture-pane", "-p", "-J", "-t", name, "-S", "-500")
	return out
}

// expect waits (bounded) until the screen shows want.
func (m *tmuxTerm) expect(name, want string) string {
	m.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := m.screen(name)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("the screen never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// send types keys (tmux key names such as Enter or C-c are keys, everything else literal text).
func (m *tmuxTerm) send(name string, keys ...string) {
	m.t.Helper()
	for _, k := range keys {
		args := []string{"send-keys", "-t", name}
		if k != "Enter" && k != "C-c" {
			args = append(args, "-l")
		}
		if out, err := m.cmd(append(args, k)...); err != nil {
			m.t.Fatalf("tmux send-keys: %v\n%s", err, out)
		}
	}
}

// answer waits for a question's title and types the answer.
func (m *tmuxTerm) answer(name, title, text string) {
	m.t.Helper()
	m.expect(name, title)
	if text != "" {
		m.send(name, text)
	}
	m.send(name, "Enter")
}

// TestSetupWizardInTmux drives the interactive wizard in a real tmuxTerm, from nothing to a token served
// by `agent run`: a wrong organisation number is asked again with the reason, the key is registered
// when the wizard shows it, the request is approved when the confirm URL appears. Then a second run is
// stopped with Ctrl-C half way, and the config stays as it was.
func TestSetupWizardInTmux(t *testing.T) {
	tmux := realdeps.Tool(t, "tmux", "apt-get install tmux")
	bin := buildAgent(t)
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	dir := t.TempDir()
	cfgPath, stateDir := filepath.Join(dir, "etc", "config.yaml"), filepath.Join(dir, "state")
	listen := freeLoopbackAddr(t)
	_, port, _ := strings.Cut(listen, ":")
	term := newTmuxTerm(t, tmux)
	term.start("w", fmt.Sprintf("%s setup --config %s --state-dir %s --environment sandbox --sandbox-url %s --no-service --poll-interval 100ms --max-poll-interval 200ms",
		bin, cfgPath, stateDir, sb.URL()))

	term.answer("w", "Organisation number", "123456789")
	term.expect("w", "✗ 123456789 is not an organisation number: the last digit should be 5")
	term.send("w", "314250052", "Enter")
	for _, qa := range [][2]string{
		{"Maskinporten client id", "client-1"}, {"System id", "sap-local"},
		{"System name (Norwegian Bokmål)", "SAP lokal"}, {"System name (Nynorsk)", ""}, {"System name (English)", "SAP local"},
		{"System description", ""}, {"Rights (resources)", sandbox.ResourceExample}, {"Access packages", ""},
		{"System user 1: name", ""}, {`System user "default": externalRef`, ""}, {`System user "default": scopes`, wizScope},
		{"Add another system user?", ""}, {"Key store", ""}, {"Key name", ""}, {"Key directory", ""},
		{"Generate or import the key?", ""}, {"Local endpoint address", port},
		{"Add a local caller now?", ""}, {"Caller id", ""}, {`Caller "sap": OS account`, ""}, {`Caller "sap": system users`, ""},
		{`Caller "sap": scopes`, ""}, {`Caller "sap": token kind`, ""}, {`Caller "sap": secret file`, ""}, {"Add another local caller?", ""},
	} {
		term.answer("w", qa[0], qa[1])
	}

	// With environment sandbox the wizard registers the client and its new key on the sandbox itself.
	term.expect("w", "sandbox: registered Maskinporten client client-1 of organisation 314250052")

	term.expect("w", "APPROVAL NEEDED")
	reqs := sb.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	term.expect("w", sb.ConfirmURL(reqs[0].ID))
	term.expect("w", "elapsed, last status New")
	if err := sb.Approve(reqs[0].ID); err != nil {
		t.Fatal(err)
	}
	screen := term.expect("w", "EXIT=")
	if !strings.Contains(screen, "EXIT=0") {
		t.Fatalf("setup did not succeed:\n%s", screen)
	}
	secretFile := callersecret.DefaultPath(cfgPath, "sap")
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(screen, string(secret)) {
		t.Error("the screen shows the caller secret")
	}
	tok := serveAndGetToken(t, bin, cfgPath, stateDir, listen, "sap", secretFile)
	if _, err := sb.VerifyAccessToken(tok); err != nil {
		t.Fatalf("served token: %v", err)
	}

	// A second run, stopped half way: the config stays byte for byte.
	old, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	term.start("again", fmt.Sprintf("%s setup --config %s --state-dir %s", bin, cfgPath, stateDir))
	term.expect("again", "[314250052] >")
	term.send("again", "Enter")
	term.answer("again", "Maskinporten client id", "client-2")
	term.expect("again", "Environment")
	term.send("again", "C-c")
	screen = term.expect("again", "EXIT=")
	if !strings.Contains(screen, "EXIT=130") || strings.Contains(screen, "context canceled") || !strings.Contains(screen, "nothing was written") {
		t.Errorf("Ctrl-C run:\n%s", screen)
	}
	if now, err := os.ReadFile(cfgPath); err != nil || !bytes.Equal(now, old) {
		t.Errorf("the config changed after Ctrl-C (%v)", err)
	}
}
