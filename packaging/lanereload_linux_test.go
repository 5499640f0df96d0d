package packaging

// The reload stages of the lane (issue 14): with the key and config as systemd credentials, a key
// rotation and a config change reach the running service through systemctl reload, with no restart.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// sandboxStats reads the host sandbox's drill API counters.
func (l *lane) sandboxStats(t *testing.T) (issued, rejected int64) {
	t.Helper()
	resp, err := laneHTTP.Get(fmt.Sprintf("http://127.0.0.1:%d/sandbox/stats", l.sandboxPort))
	if err != nil {
		t.Fatalf("the sandbox's stats: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		TokensIssued   int64 `json:"tokens_issued"`
		GrantsRejected int64 `json:"grants_rejected"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("the sandbox's stats: %v", err)
	}
	return st.TokensIssued, st.GrantsRejected
}

// stageReloadRotatesKey: keys rotate, the new public key registered on the client (the sandbox's
// registration API stands in for Samarbeidsportalen), keys upload --uploaded (the confirmation), then
// keys activate, which reloads the service itself (systemctl reload: ExecReload=+ decrypts the new key
// credential and hands it to the running process). A caller polling every 50 ms through all of it sees
// no failure, the main process is the same, the service says it signs with the new kid, and the sandbox
// keeps issuing tokens for grants signed with it (its tokens live 20 s: fresh grants follow) and rejects
// none.
func stageReloadRotatesKey(t *testing.T, l *lane) {
	l.waitToken(t, 30*time.Second)
	before := l.show(t)
	p := l.startPoller(50 * time.Millisecond)
	defer p.finish()
	var rot struct {
		Active, Next struct {
			KID string          `json:"kid"`
			JWK json.RawMessage `json:"jwk"`
		}
	}
	out := l.out(t, cBinary, "keys", "rotate", "--json")
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &rot); err != nil || rot.Next.KID == "" || rot.Next.KID == rot.Active.KID {
		t.Fatalf("keys rotate --json: %v\n%s", err, out)
	}
	body, _ := json.Marshal(map[string]any{"client_id": laneClient, "org": laneOrg, "jwk": rot.Next.JWK, "scopes": []string{"altinn:demo/read"}})
	resp, err := laneHTTP.Post(fmt.Sprintf("http://127.0.0.1:%d/sandbox/clients", l.sandboxPort), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registering the new key on the sandbox's client: HTTP %d", resp.StatusCode)
	}
	l.out(t, cBinary, "keys", "upload", "--uploaded")
	out = l.out(t, cBinary, "keys", "activate")
	if want := "signs with kid " + rot.Next.KID + " now"; !strings.Contains(out, want) {
		t.Fatalf("keys activate does not say the running service switched (%q):\n%s", want, out)
	}
	switched := time.Now()
	issued, rejected := l.sandboxStats(t)
	deadline := time.Now().Add(60 * time.Second)
	for n, _ := l.sandboxStats(t); n < issued+1; n, _ = l.sandboxStats(t) {
		if time.Now().After(deadline) {
			t.Fatalf("no fresh grant within 60 s of the switch (tokens issued %d → %d)", issued, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	p.finish()
	l.tokens = append(l.tokens, p.tokens...)
	after := l.show(t)
	if after["MainPID"] != before["MainPID"] || after["InvocationID"] != before["InvocationID"] || after["NRestarts"] != before["NRestarts"] {
		t.Errorf("the key switch restarted the service: before %v, after %v", before, after)
	}
	if _, r := l.sandboxStats(t); r != rejected {
		t.Errorf("the sandbox rejected %d grants after the switch", r-rejected)
	}
	if n := l.countJournal(t, "the Maskinporten signing key was switched"); n != 1 {
		t.Errorf("the journal shows %d key switches, want 1", n)
	}
	if n := l.countJournal(t, "kid="+rot.Next.KID); n == 0 {
		t.Errorf("the journal does not name the new kid %s", rot.Next.KID)
	}
	t.Logf("rotate + activate + reload while polling every 50 ms: %d answers, %d failed, longest gap %s, same MainPID %s, a fresh grant %s after the switch",
		p.ok, p.fail, p.maxGap.Round(time.Millisecond), after["MainPID"], time.Since(switched).Round(100*time.Millisecond))
	if p.fail > 0 || p.ok == 0 {
		t.Errorf("the caller saw %d failed requests (%d answered) during the switch; want none", p.fail, p.ok)
	}
	if len(p.expired) > 0 {
		t.Errorf("the caller got expired tokens: %v", p.expired)
	}
	l.out(t, cBinary, "keys", "delete", "--name", "maskinporten-previous", "--yes")
}

// stageReloadConfig: a config that does not load fails systemctl reload, the journal says why, and the
// old config keeps serving (same process); then a config with a second caller reloads, and that caller
// is served by the same process.
func stageReloadConfig(t *testing.T, l *lane) {
	before := l.show(t)
	good, err := os.ReadFile(l.inContainer(cConfig))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.inContainer(cConfig), []byte("environment: sandbox\norganization: [broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := l.run(t, "systemctl", "reload", cUnit)
	if err == nil {
		t.Errorf("systemctl reload with a broken config succeeded:\n%s", out)
	}
	if n := l.countJournal(t, "not reloaded: the configuration does not load"); n != 1 {
		t.Errorf("the journal says %d times why the reload failed, want 1:\n%s", n, l.out(t, "journalctl", "--no-pager", "-o", "cat", "-u", cUnit, "-n", "20"))
	}
	l.waitToken(t, 5*time.Second)
	if m := l.show(t); m["MainPID"] != before["MainPID"] || m["ActiveState"] != "active" {
		t.Errorf("after a refused reload: %v; want the same process, active", m)
	}

	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	secret2 := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(secret2))
	cfg := string(good) + fmt.Sprintf("  - id: lane2\n    secret_sha256: %s\n    system_users: [default]\n    scopes: [altinn:demo/read]\n", hex.EncodeToString(sum[:]))
	if err := os.WriteFile(l.inContainer(cConfig), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := l.tokenAs("lane2", secret2); err == nil {
		t.Fatal("lane2 is served before the reload")
	}
	l.out(t, "systemctl", "reload", cUnit)
	r, err := l.tokenAs("lane2", secret2)
	if err != nil {
		t.Fatalf("the caller added by the reload is not served: %v", err)
	}
	l.tokens = append(l.tokens, r.AccessToken)
	if m := l.show(t); m["MainPID"] != before["MainPID"] || m["InvocationID"] != before["InvocationID"] {
		t.Errorf("the config reload restarted the service: before %v, after %v", before, m)
	}
}
