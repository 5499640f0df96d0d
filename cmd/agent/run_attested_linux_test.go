package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestRunUnixSocketMapsAccounts is issue 12's must-show on Linux through the real wiring: an `agent run`
// process whose config sets unix_socket and a caller "batch" with os_user 64123 and no secret. curl
// running as uid 64123 gets a system-user token over the socket by client_id alone; root (not mapped) is
// disconnected there even with sap's secret before any reply; uid 64124 (not mapped) gets no reply either
// (the directory's ACL does not let it in); and
// "batch" without a secret gets nothing over TCP, where sap's secret still works. Needs root to run curl
// as other uids.
func TestRunUnixSocketMapsAccounts(t *testing.T) {
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does) to start callers as other uids")
	curl := realdeps.Tool(t, "curl", "apt-get install curl")
	bin := buildAgent(t)
	f := newAgentFixture(t, sandbox.Options{})
	top, err := os.MkdirTemp("", "d10") // short (a socket path has at most 107 bytes) and reachable by others
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(top, "run", "token.sock")
	cfg, err := os.ReadFile(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.cfgPath, string(cfg)+fmt.Sprintf(`  - id: batch
    os_user: "64123"
    system_users: [default]
    scopes: [%s]
unix_socket: %s
`, setup.DemoScope, sock))

	s := &server{dir: f.dir, cfgPath: f.cfgPath, listen: f.listen}
	s.run(t, bin)
	cmd, logs := s.cmd, s.logs
	waitUntil(t, "the socket", s, func() bool { _, err := os.Stat(sock); return err == nil })

	// token asks for a token as uid (nil: this test's root) with curl's -d arguments; over the socket
	// unless tcp. It returns the access token, or "" and what went wrong.
	token := func(uid *uint32, tcp bool, args ...string) (string, string) {
		a := []string{"-sS", "--max-time", "30", "-d", "grant_type=client_credentials"}
		for _, d := range args {
			a = append(a, "-d", d)
		}
		url := "http://" + f.listen + "/oauth2/token"
		if !tcp {
			a, url = append(a, "--unix-socket", sock), "http://localhost/oauth2/token"
		}
		c := exec.Command(curl, append(a, url)...)
		if uid != nil {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: *uid, Gid: *uid}}
		}
		out, err := c.CombinedOutput()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if err != nil || json.Unmarshal(out, &body) != nil || body.AccessToken == "" {
			return "", fmt.Sprintf("%v: %s", err, out)
		}
		return body.AccessToken, ""
	}
	mapped, unmapped := uint32(64123), uint32(64124)

	tok, why := token(&mapped, false, "client_id=batch")
	if tok == "" {
		t.Fatalf("uid 64123 (os_user of batch) over the socket without a secret: %s\n%s", why, logs.String())
	}
	claims, err := f.sb.VerifyAccessToken(tok)
	if err != nil {
		t.Fatalf("the token the socket served: %v", err)
	}
	if ad, _ := claims["authorization_details"].([]any); len(ad) == 0 || !strings.Contains(fmt.Sprint(ad[0]), "systemuser_id") {
		t.Errorf("not a system-user token: %v", claims)
	}
	if tok, why := token(nil, false, "client_id=sap", "client_secret="+f.secret); tok != "" || !strings.Contains(why, "curl: (") {
		t.Errorf("root (not mapped) over the socket: want the connection dropped before a reply, got token %t: %s", tok != "", why)
	}
	if tok, why := token(&unmapped, false, "client_id=batch"); tok != "" || !strings.Contains(why, "curl: (") {
		t.Errorf("uid 64124 (not mapped) over the socket: want no connection, got token %t: %s", tok != "", why)
	}
	if tok, why := token(&mapped, true, "client_id=batch"); tok != "" || !strings.Contains(why, "invalid_client") {
		t.Errorf("batch without a secret over TCP: want invalid_client, got token %t: %s", tok != "", why)
	}
	if tok, why := token(nil, true, "client_id=sap", "client_secret="+f.secret); tok == "" {
		t.Errorf("sap with its secret over TCP: %s", why)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-s.exited; err != nil {
		t.Errorf("agent run after SIGTERM: %v\n%s", err, logs.String())
	}
	if strings.Contains(logs.String(), f.secret) || strings.Contains(logs.String(), tok) {
		t.Error("a secret or token appeared in the agent's log")
	}
}
