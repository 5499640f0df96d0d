//go:build winelane

package packaging

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// wineOrg is the organisation of the end-to-end run (the sandbox's demo organisation).
const wineOrg = "314250052"

// TestWineEndToEnd: the Windows agent.exe goes from nothing to a served token under wine (scripts/wine-lane
// builds it with the lane's build tag and names it in SUA_WINE_AGENT_EXE), with the keyring backend:
//
//  1. `agent.exe demo --once --json` serves a token with the system-user claims;
//  2. `agent.exe sandbox` runs as its own process;
//  3. `agent.exe setup --non-interactive` against it, with key.backend keyring and no --no-service, installs
//     the Windows service and starts it through wine's service manager BEFORE the key step, then generates
//     the key inside the running service through the key hand-over pipe (Credential Manager of the
//     service's account), registers the system and sends the request (--no-wait: exit 3);
//  4. the request is approved on the sandbox's confirm page, and the same setup command, run again,
//     resumes: the service is found installed and running, the key is kept, the system user is accepted;
//  5. an RSA-4096 key generated through the service is refused (Credential Manager's 2560-byte entry),
//     and nothing of it is stored;
//  6. a caller is added (`clients add --print-secret`, no secret file) and the service restarted; the
//     caller gets a token from the served endpoint over loopback TCP, and its claims name the system user
//     setup recorded, and the service manager reports a new process id for the restarted service;
//  7. a key rotation through the CLI against the running service, with no restart and a caller polling
//     throughout (wineRun.rotate, lanewinerotate_windows_test.go).
//
// What wine cannot prove (docs/windows-test-plan.md has the real-Windows steps): wine runs every process
// as one account, so the service runs as the test's account, not as the virtual account NT SERVICE\
// systemuser-agent, and the hand-over checks that one account (the lane build's seam in setup and
// installer, build tag winelane); the DACLs of the config, state and binary (wine keeps no protected
// DACL, so the lane build skips those checks), the service SID type, required privileges, delayed start
// and recovery on error exits (wine's service manager lacks them); a caller's secret file (wine cannot
// keep its DACL, so the caller takes its secret once from --print-secret); Credential Manager per account;
// the Event Log's contents; the hand-over pipe's DACL refusing a caller that is not elevated (step 23).
func TestWineEndToEnd(t *testing.T) {
	exe := os.Getenv("SUA_WINE_AGENT_EXE")
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SUA_WINE_AGENT_EXE is not set: run this through scripts/wine-lane, which builds agent.exe for it")
		}
		t.Skip("SUA_WINE_AGENT_EXE is not set: scripts/wine-lane builds agent.exe and sets it")
	}
	start := time.Now()
	w := &wineRun{t: t, exe: exe, dir: t.TempDir()}
	w.cfg, w.state = filepath.Join(w.dir, "etc", "config.yaml"), filepath.Join(w.dir, "state")
	var b [4]byte
	_, _ = rand.Read(b[:])
	w.key = "e2e-" + hex.EncodeToString(b[:])
	w.uninstall() // a service an aborted run left behind
	t.Cleanup(w.uninstall)

	// 1. The demo.
	out := w.ok("demo", "--once", "--json")
	var demo struct {
		Claims wineClaims `json:"claims"`
	}
	if err := json.Unmarshal([]byte(out), &demo); err != nil {
		t.Fatalf("demo --json printed %q: %v", out, err)
	}
	demo.Claims.check(t, "demo", "")

	// 2. The sandbox, a process of its own.
	sb := w.sandbox()

	// 3. Setup: the service before the key, the key through the hand-over, then the request.
	listen := freeLoopback(t)
	setupArgs := []string{"setup", "--non-interactive", "--json", "--config", w.cfg, "--state-dir", w.state,
		"--org", wineOrg, "--client-id", "e2e-client", "--environment", "sandbox", "--sandbox-url", sb,
		"--system-user", "name=default scopes=altinn:demo/read", "--key-backend", "keyring", "--key-name", w.key,
		"--key", "generate", "--listen", listen, "--poll-interval", "100ms", "--max-poll-interval", "500ms"}
	events, code := w.setup(append(setupArgs, "--no-wait"))
	if code != 3 {
		t.Fatalf("setup --no-wait exited %d, want 3 (waiting for approval); events:\n%s", code, events)
	}
	service, key := events.index(t, "service", "installed and started"), events.index(t, "key", "generated in the keyring key store")
	if service > key {
		t.Errorf("the key step (event %d) came before the service was installed and started (event %d)", key, service)
	}
	if !strings.Contains(w.ok("service", "status", "--json", "--config", w.cfg), `"running"`) {
		t.Error("the service is not running after setup")
	}
	confirm := events.confirmURL(t)

	// 4. Approval, then the same setup again resumes.
	approve(t, confirm)
	events, code = w.setup(setupArgs)
	if code != 0 {
		t.Fatalf("the second setup exited %d; events:\n%s", code, events)
	}
	events.index(t, "service", "already installed and running")
	events.index(t, "key", "(kept)")
	events.index(t, "token", "got a system-user token")

	// 5. An RSA-4096 key through the service: refused, and nothing stored.
	_, errOut, code := w.run("keys", "generate", "--bits", "4096", "--name", w.key+"-big", "--config", w.cfg)
	if code == 0 || !strings.Contains(errOut, "2560") || !strings.Contains(errOut, "RSA-2048") {
		t.Errorf("keys generate --bits 4096 exited %d: %s", code, errOut)
	}
	if list := w.ok("keys", "list", "--config", w.cfg); strings.Contains(list, w.key+"-big") || !strings.Contains(list, w.key) {
		t.Errorf("keys list after the refusal: %s", list)
	}

	// 6. A caller, the restart that loads it, and a token from the served endpoint.
	osUser := "root"
	if u, err := user.Current(); err == nil {
		osUser = u.Username
	}
	var added struct{ Secret string }
	if err := json.Unmarshal([]byte(w.ok("clients", "add", "e2e-caller", "--os-user", osUser, "--secret-file", "-", "--print-secret",
		"--json", "--config", w.cfg)), &added); err != nil || added.Secret == "" {
		t.Fatalf("clients add: %v", err)
	}
	pid := w.servicePID()
	w.ok("service", "restart", "--config", w.cfg)
	tokenURL := "http://" + listen + "/oauth2/token"
	tok := servedToken(t, tokenURL, "e2e-caller", added.Secret)
	if restarted := w.servicePID(); restarted == pid {
		t.Errorf("the service manager reports process id %d before and after the restart", pid)
	}
	var state struct {
		SystemUsers map[string]struct {
			SystemUserID string `json:"system_user_id"`
		} `json:"system_users"`
	}
	raw, err := os.ReadFile(filepath.Join(w.state, "state.json"))
	if err == nil {
		err = json.Unmarshal(raw, &state)
	}
	if err != nil {
		t.Fatal(err)
	}
	tokenClaims(t, tok).check(t, "served", state.SystemUsers["default"].SystemUserID)
	if ready := get(t, "http://"+listen+"/readyz"); !strings.Contains(ready, "keyring") {
		t.Errorf("/readyz does not name the keyring backend: %s", ready)
	}

	// 7. The rotation.
	w.rotate(sb, tokenURL, "e2e-caller", added.Secret)
	t.Logf("nothing to a served token, then a key rotation, under wine in %s", time.Since(start).Round(time.Second))
}

// wineRun runs agent.exe commands for one end-to-end run.
type wineRun struct {
	t                    *testing.T
	exe, dir, cfg, state string
	key                  string
}

// run runs agent.exe with args and returns its stdout, stderr and exit code.
func (w *wineRun) run(args ...string) (string, string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, w.exe, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	case err != nil:
		w.t.Fatalf("agent.exe %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), 0
}

// ok runs agent.exe and fails the test unless it exits 0.
func (w *wineRun) ok(args ...string) string {
	w.t.Helper()
	out, errOut, code := w.run(args...)
	if code != 0 {
		w.t.Fatalf("agent.exe %s exited %d:\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// uninstall removes the key (through the running service) and the service; both may be absent.
func (w *wineRun) uninstall() {
	if _, err := os.Stat(w.cfg); err == nil {
		for _, name := range []string{w.key, w.key + "-next", w.key + "-previous"} {
			w.run("keys", "delete", "--yes", "--name", name, "--config", w.cfg)
		}
	}
	w.run("service", "uninstall", "--config", w.cfg)
}

// sandbox starts `agent.exe sandbox` on a free port, with its drill API and tokens that live 20 s (the
// rotation waits for a fresh grant), and returns its URL once it serves.
func (w *wineRun) sandbox() string {
	w.t.Helper()
	addr := freeLoopback(w.t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, w.exe, "sandbox", "--listen", addr, "--json", "--admin", "--token-lifetime", "20s")
	cmd.Stdout, cmd.Stderr = io.Discard, &logs
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	base := "http://" + addr
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if r, err := http.Get(base + "/sandbox/catalogue"); err == nil {
			r.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("agent.exe sandbox does not serve on %s:\n%s", addr, logs.String())
		}
	}
}

// setupEvent is one JSON line `agent setup --json` printed.
type setupEvent struct {
	Step       string `json:"step"`
	Status     string `json:"status"`
	Message    string `json:"message"`
	ConfirmURL string `json:"confirm_url"`
}

// setupEvents are the events of one setup run.
type setupEvents []setupEvent

func (e setupEvents) String() string {
	var b strings.Builder
	for _, ev := range e {
		fmt.Fprintf(&b, "  %s %s: %s\n", ev.Step, ev.Status, ev.Message)
	}
	return b.String()
}

// index is the position of the first done event of step whose message holds text.
func (e setupEvents) index(t *testing.T, step, text string) int {
	t.Helper()
	i := slices.IndexFunc(e, func(ev setupEvent) bool {
		return ev.Step == step && ev.Status == "done" && strings.Contains(ev.Message, text)
	})
	if i < 0 {
		t.Fatalf("no %s event saying %q:\n%s", step, text, e)
	}
	return i
}

func (e setupEvents) confirmURL(t *testing.T) string {
	t.Helper()
	for _, ev := range e {
		if ev.ConfirmURL != "" {
			return ev.ConfirmURL
		}
	}
	t.Fatalf("no confirm URL in the events:\n%s", e)
	return ""
}

// setup runs agent.exe setup and returns its events and exit code.
func (w *wineRun) setup(args []string) (setupEvents, int) {
	w.t.Helper()
	out, errOut, code := w.run(args...)
	var events setupEvents
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var ev setupEvent
		if err := dec.Decode(&ev); err != nil {
			w.t.Fatalf("setup --json printed a non-event (%v):\n%s\nstderr:\n%s", err, out, errOut)
		}
		events = append(events, ev)
	}
	if code != 0 {
		w.t.Logf("setup exited %d; stderr:\n%s", code, errOut)
	}
	return events, code
}

// approve approves a request on the sandbox's confirm page, as an administrator's browser does.
func approve(t *testing.T, confirm string) {
	t.Helper()
	page := get(t, confirm)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	u, err := url.Parse(confirm)
	if m == nil || err != nil {
		t.Fatalf("confirm page %s has no form (%v):\n%s", confirm, err, page)
	}
	form := url.Values{"id": {u.Query().Get("id")}, "csrf": {m[1]}, "action": {"approve"}}
	u.RawQuery = ""
	r, err := http.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK || !strings.Contains(string(body), "Approved") {
		t.Fatalf("approve: %s\n%s", r.Status, body)
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	r, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// wineClaims are the claims of a Maskinporten system-user token that the run checks.
type wineClaims struct {
	AuthorizationDetails []struct {
		Type          string   `json:"type"`
		SystemUserID  []string `json:"systemuser_id"`
		SystemUserOrg struct {
			ID string `json:"ID"`
		} `json:"systemuser_org"`
	} `json:"authorization_details"`
	Scope    string `json:"scope"`
	Consumer struct {
		ID string `json:"ID"`
	} `json:"consumer"`
}

// check: one urn:altinn:systemuser detail for wineOrg with the system user id want ("" any non-empty).
func (c wineClaims) check(t *testing.T, what, want string) {
	t.Helper()
	if len(c.AuthorizationDetails) != 1 {
		t.Fatalf("%s token: authorization_details %+v", what, c.AuthorizationDetails)
	}
	d := c.AuthorizationDetails[0]
	if d.Type != "urn:altinn:systemuser" || d.SystemUserOrg.ID != "0192:"+wineOrg || len(d.SystemUserID) != 1 || d.SystemUserID[0] == "" {
		t.Errorf("%s token: authorization detail %+v", what, d)
	}
	if want != "" && (len(d.SystemUserID) != 1 || d.SystemUserID[0] != want) {
		t.Errorf("%s token: systemuser_id %v, want %s (the state setup wrote)", what, d.SystemUserID, want)
	}
	if c.Scope != "altinn:demo/read" || c.Consumer.ID != "0192:"+wineOrg {
		t.Errorf("%s token: scope %q, consumer %q", what, c.Scope, c.Consumer.ID)
	}
}

// tokenClaims decodes a JWT's claims (the signature is the sandbox's; the claims are what is checked).
func tokenClaims(t *testing.T, jwt string) wineClaims {
	t.Helper()
	var c wineClaims
	decodeClaims(t, jwt, &c)
	return c
}

// decodeClaims decodes a JWT's claims into v.
func decodeClaims(t *testing.T, jwt string, v any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.20s…", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		t.Fatalf("token claims: %v", err)
	}
}

// freeLoopback is a free 127.0.0.1 port.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
