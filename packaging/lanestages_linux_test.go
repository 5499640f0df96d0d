package packaging

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// stageInstallWithoutConfig: dpkg -i with no config installs the package and neither enables nor
// starts the service; doctor says to run setup.
func stageInstallWithoutConfig(t *testing.T, l *lane) {
	out := l.out(t, "dpkg", "-i", l.deb1)
	if !strings.Contains(out, "no configuration at "+cConfig) {
		t.Errorf("postinst did not say the config is missing:\n%s", out)
	}
	m := l.show(t)
	if m["ActiveState"] != "inactive" || m["UnitFileState"] == "enabled" || m["NRestarts"] != "0" {
		t.Errorf("without a config the service is %v; want inactive, not enabled, never started", m)
	}
	if fi, err := os.Stat(l.inContainer("/etc/systemuser-agent")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("postinst should make /etc/systemuser-agent 0700: %v %v", fi, err)
	}
	l.doctor(t, "no config file at "+cConfig, "agent setup")
}

// stageWriteConfig writes a sandbox config (what "systemuser-agent setup" would write) with a caller
// whose secret only the test knows.
func stageWriteConfig(t *testing.T, l *lane) {
	l.sandboxPort, l.listenPort = freePort(t), freePort(t)
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	l.secret = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(l.secret))
	sb := fmt.Sprintf("http://127.0.0.1:%d", l.sandboxPort)
	cfg := fmt.Sprintf(`environment: sandbox
endpoints:
  maskinporten_issuer: %[1]s/maskinporten/
  maskinporten_token: %[1]s/maskinporten/token
  altinn: %[1]s/altinn
organization: "%[2]s"
maskinporten:
  client_id: %[3]s
  key: {backend: systemd-creds, name: maskinporten}
system:
  id: %[2]s_sandbox
  name: {nb: Lane, nn: Lane, en: Lane}
  description: {nb: Systemd-lane, nn: Systemd-lane, en: Systemd lane}
system_users:
  - name: default
    scopes: [altinn:demo/read]
listen: 127.0.0.1:%[4]d
clients:
  - id: %[5]s
    secret_sha256: %[6]s
    system_users: [default]
    scopes: [altinn:demo/read]
`, sb, laneOrg, laneClient, l.listenPort, laneCaller, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(l.inContainer(cConfig), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// stageEmptyKeyStore: installing (again) with a config but no key installs the package, enables the
// service and starts it; the start fails (systemd cannot load the key credential) and is retried at most
// StartLimitBurst times, then left failed; doctor says to generate or import the key.
func stageEmptyKeyStore(t *testing.T, l *lane) {
	if exists(l.inContainer(cCred)) {
		t.Fatalf("%s exists before the key stage", cCred)
	}
	out, err := l.run(t, "dpkg", "-i", l.deb1)
	if err != nil {
		t.Fatalf("dpkg -i with an empty key store failed (the package must install): %v\n%s", err, out)
	}
	m := l.waitShow(t, "the service gives up", 120*time.Second, func(m map[string]string) bool {
		n, _ := strconv.Atoi(m["NRestarts"])
		return m["ActiveState"] == "failed" && n >= startLimit-1
	})
	if m["UnitFileState"] != "enabled" {
		t.Errorf("with a config, install should enable the service: %v", m)
	}
	time.Sleep(7 * time.Second) // longer than RestartSec: a storm would have started again
	if m2 := l.show(t); m2["ActiveState"] != "failed" || m2["NRestarts"] != m["NRestarts"] {
		t.Errorf("the service kept restarting after the start limit: %v then %v", m, m2)
	}
	if n := l.countJournal(t, "Start request repeated too quickly"); n != 1 {
		t.Errorf("the journal shows the start limit %d times, want 1", n)
	}
	if n := l.countJournal(t, "status=243/CREDENTIALS"); n != startLimit {
		t.Errorf("systemd tried to start the service %d times, want StartLimitBurst = %d", n, startLimit)
	}
	l.doctor(t, `no key "maskinporten"`, "agent keys generate")
}

// stageKeyAndSandbox generates the key in the container's systemd-creds store, starts "agent sandbox"
// on the host with its public JWK (a seeded system and accepted system user), and registers the system,
// which writes the state file.
func stageKeyAndSandbox(t *testing.T, l *lane) {
	var gen struct {
		JWK json.RawMessage `json:"jwk"`
	}
	out := l.out(t, cBinary, "keys", "generate", "--json")
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &gen); err != nil || len(gen.JWK) == 0 {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	if !exists(l.inContainer(cCred)) {
		t.Fatalf("keys generate did not write %s", cCred)
	}
	jwk := filepath.Join(t.TempDir(), "jwk.json")
	if err := os.WriteFile(jwk, gen.JWK, 0o600); err != nil {
		t.Fatal(err)
	}
	l.sandbox = exec.Command(l.hostAgent, "sandbox", "--listen", fmt.Sprintf("127.0.0.1:%d", l.sandboxPort),
		"--org", laneOrg, "--client-id", laneClient, "--jwk-file", jwk, "--seed-system-user", "--json",
		"--admin", "--token-lifetime", "20s") // short-lived tokens: the reload stage sees fresh grants with the new key
	stdout, err := l.sandbox.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.sandbox.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		var seen strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "system_user_id") {
				ready <- seen.String()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("agent sandbox did not start within 30 s")
	}
	l.out(t, cBinary, "system", "register")
	st := l.readState(t)
	if st.Version != config.StateVersion {
		t.Errorf("state version %d, want %d", st.Version, config.StateVersion)
	}
}

type stateFile struct {
	Version int `json:"version"`
}

func (l *lane) readState(t *testing.T) stateFile {
	t.Helper()
	data, err := os.ReadFile(l.inContainer("/var/lib/systemuser-agent/state.json"))
	if err != nil {
		t.Fatalf("the state file: %v", err)
	}
	var s stateFile
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("the state file: %v", err)
	}
	return s
}

// stagePortTaken: with the listen port held by another program the service fails and retries (no
// faster than RestartSec, bounded by StartLimit*), doctor names the port and the fix, and once the port
// is free the next retry serves.
func stagePortTaken(t *testing.T, l *lane) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", l.listenPort))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l.out(t, "systemctl", "reset-failed", cUnit)
	_, _ = l.run(t, "systemctl", "start", cUnit)
	l.waitShow(t, "the service retries after failing to listen", 30*time.Second, func(m map[string]string) bool {
		return m["NRestarts"] == "1"
	})
	if n := l.countJournal(t, "address already in use"); n == 0 {
		t.Error("the journal does not say the address is in use")
	}
	l.doctor(t, fmt.Sprintf("127.0.0.1:%d is taken by another program", l.listenPort), "stop that program")
	ln.Close()
	took := l.waitToken(t, 30*time.Second)
	if m := l.show(t); m["ActiveState"] != "active" {
		t.Errorf("after the port was freed: %v", m)
	}
	t.Logf("served %s after the port was freed", took.Round(time.Millisecond))
}

// exposureRE reads systemd-analyze security's overall score.
var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+\.[0-9]+)`)

// stageServesTokens: the running service serves tokens, runs as a DynamicUser with the key from
// LoadCredentialEncrypted=, and systemd-analyze security on the live unit scores at most 2.0.
func stageServesTokens(t *testing.T, l *lane) {
	l.waitToken(t, 30*time.Second)
	m := l.show(t)
	pid := m["MainPID"]
	uid := strings.TrimSpace(l.out(t, "stat", "-c", "%u", "/proc/"+pid)) // MainPID is the container's view
	if n, err := strconv.Atoi(uid); err != nil || n < 61184 || n > 65519 {
		t.Errorf("the service runs as uid %q; want a DynamicUser (61184-65519)", uid)
	}
	out, _ := l.run(t, "systemd-analyze", "security", cUnit)
	sm := exposureRE.FindStringSubmatch(out)
	if sm == nil {
		t.Fatalf("systemd-analyze security: no score:\n%s", out)
	}
	if score, _ := strconv.ParseFloat(sm[1], 64); score > 2.0 {
		t.Errorf("live exposure %.1f > 2.0", score)
	} else {
		t.Logf("live exposure %.1f", score)
	}
}

// stageKill9: a SIGKILLed service is restarted by systemd and serves again.
func stageKill9(t *testing.T, l *lane) {
	before := l.show(t)
	n, _ := strconv.Atoi(before["NRestarts"])
	l.out(t, "systemctl", "kill", "-s", "KILL", cUnit)
	l.waitShow(t, "restarted after kill -9", 30*time.Second, func(m map[string]string) bool {
		return m["ActiveState"] == "active" && m["MainPID"] != before["MainPID"] && m["NRestarts"] == strconv.Itoa(n+1)
	})
	took := l.waitToken(t, 30*time.Second)
	t.Logf("serving again %s after the restart", took.Round(time.Millisecond))
}

// stageSIGTERM: systemctl stop sends SIGTERM; the agent shuts down cleanly (it says so, exits 0, and
// systemd records Result=success, "Deactivated successfully", no "Main process exited" failure line).
func stageSIGTERM(t *testing.T, l *lane) {
	counts := func() [3]int {
		return [3]int{l.countJournal(t, "stopped serving the local token endpoint"),
			l.countJournal(t, "Deactivated successfully"), l.countJournal(t, "Main process exited")}
	}
	before := counts()
	l.out(t, "systemctl", "stop", cUnit)
	m := l.show(t)
	if m["ActiveState"] != "inactive" || m["Result"] != "success" {
		t.Errorf("after SIGTERM: %v; want inactive, Result=success", m)
	}
	after := counts()
	if after[0] != before[0]+1 || after[1] != before[1]+1 || after[2] != before[2] {
		t.Errorf("journal counts (agent's shutdown line, clean deactivation, failed exits) went from %v to %v; want +1, +1, +0", before, after)
	}
	if _, err := l.token(); err == nil {
		t.Error("a stopped service still answers")
	}
}

// stageWarmUp: a start and a restart serve again quickly (generous bound; the time is logged).
func stageWarmUp(t *testing.T, l *lane) {
	l.out(t, "systemctl", "start", cUnit)
	t.Logf("start to first token: %s", l.waitToken(t, 30*time.Second).Round(time.Millisecond))
	l.out(t, "systemctl", "restart", cUnit)
	t.Logf("restart to first token: %s", l.waitToken(t, 30*time.Second).Round(time.Millisecond))
}
