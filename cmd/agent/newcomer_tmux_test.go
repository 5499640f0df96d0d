package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// TestNewcomerInTmux is a new user's first hour, in real terminals: `agent sandbox` with no flags but a
// free port in one window; in another the `agent setup` command it prints (plus where to keep the config
// and state, --no-service and a free port for the local endpoint), answering only the organisation number
// and the client id and Enter to every other question; the admin approves at the confirm URL the wizard
// shows, as a browser would; then `agent run` serves a token whose introspection names the system user.
// No step needs the source: the wizard registers the client and key on the sandbox itself.
func TestNewcomerInTmux(t *testing.T) {
	tmux := realdeps.Tool(t, "tmux", "apt-get install tmux")
	bin := buildAgent(t)
	dir := t.TempDir()
	cfgPath, stateDir := filepath.Join(dir, "etc", "config.yaml"), filepath.Join(dir, "state")
	listen := freeLoopbackAddr(t)
	term := newTmuxTerm(t, tmux)

	term.start("sb", bin+" sandbox --listen 127.0.0.1:0")
	screen := term.expect("sb", "Serving until Ctrl-C.")
	next := regexp.MustCompile(`agent setup --environment sandbox --sandbox-url (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(screen)
	if next == nil {
		t.Fatalf("agent sandbox does not say what to run next:\n%s", screen)
	}
	const org, clientID = "314250052", "0b3c2f4e-7a1d-4c55-9e0a-2f6d8b1c9e47"
	term.start("w", fmt.Sprintf("%s setup --environment sandbox --sandbox-url %s --config %s --state-dir %s --no-service --listen %s "+
		"--poll-interval 100ms --max-poll-interval 200ms", bin, next[1], cfgPath, stateDir, listen))
	term.answer("w", "Organisation number", org)
	term.answer("w", "Maskinporten client id", clientID)
	for _, q := range []string{"System id", "System name (Norwegian Bokmål)", "System name (Nynorsk)", "System name (English)",
		"System description", "Rights (resources)", "Access packages", "System user 1: name", `System user "default": externalRef`,
		`System user "default": scopes`, "Add another system user?", "Key store", "Key name", "Key directory",
		"Generate or import the key?", "Add a local caller now?", "Caller id", `Caller "sap": OS account`,
		`Caller "sap": system users`, `Caller "sap": scopes`, `Caller "sap": token kind`, `Caller "sap": secret file`,
		"Add another local caller?"} {
		term.answer("w", q, "")
	}
	term.expect("w", "sandbox: registered Maskinporten client "+clientID)
	term.expect("sb", "Registered Maskinporten client "+clientID+" of organisation "+org)

	screen = term.expect("w", "APPROVAL NEEDED")
	confirm := regexp.MustCompile(`http://127\.0\.0\.1:\d+/am/accessmanagement/ui/systemuser/request\?id=[0-9a-f-]+`).FindString(screen)
	if confirm == "" {
		t.Fatalf("no confirm URL on the screen:\n%s", screen)
	}
	approveInBrowser(t, confirm)
	screen = term.expect("w", "EXIT=")
	if !strings.Contains(screen, "EXIT=0") {
		t.Fatalf("setup did not succeed:\n%s", screen)
	}
	for _, bad := range []string{"Press Enter once the key is registered", "Samarbeidsportalen →"} {
		if strings.Contains(screen, bad) {
			t.Errorf("the wizard asked for a step outside the agent (%q):\n%s", bad, screen)
		}
	}
	secretFile := callersecret.DefaultPath(cfgPath, "sap")
	tok := serveAndGetToken(t, bin, cfgPath, stateDir, listen, "sap", secretFile)
	claims := jwtClaims(t, tok)
	if s, _ := claims["scope"].(string); s != "altinn:demo/read" {
		t.Errorf("token scope %q, want the sandbox's altinn:demo/read", s)
	}
	requestID := strings.TrimPrefix(confirm[strings.Index(confirm, "?id="):], "?id=")
	info := introspect(t, listen, "sap", secretFile, tok)
	if info["active"] != true || info["systemuser_id"] != requestID || info["system_id"] != org+"_systemuser-agent" {
		t.Errorf("introspection %v: want active, systemuser_id %s (the approved request's id), system_id %s_systemuser-agent",
			info, requestID, org)
	}
}

// approveInBrowser does what an administrator's browser does at the confirm URL: load the page, then
// submit its form with Approve.
func approveInBrowser(t *testing.T, confirm string) {
	t.Helper()
	resp, err := http.Get(confirm)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	field := func(name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("the confirm page has no %s field:\n%s", name, page)
		}
		return string(m[1])
	}
	form := url.Values{"id": {field("id")}, "csrf": {field("csrf")}, "action": {"approve"}}
	resp, err = http.PostForm(confirm, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Approved") {
		t.Fatalf("approve: HTTP %d\n%s", resp.StatusCode, body)
	}
}

// jwtClaims decodes a JWT's payload (no verification: the sandbox runs in another process).
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatal("the served token is not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err != nil || json.Unmarshal(b, &claims) != nil {
		t.Fatalf("the served token's payload does not decode: %v", err)
	}
	return claims
}

// introspect asks the running agent about tok as caller id.
func introspect(t *testing.T, listen, id, secretFile, tok string) map[string]any {
	t.Helper()
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+listen+"/oauth2/introspect",
		strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, string(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("introspection reply: %v", err)
	}
	return info
}
