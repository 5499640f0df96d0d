package packaging

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// The real-systemd lane: scripts/systemd-lane builds two .debs of different versions and a cached
// Debian 12 root filesystem, then runs TestSystemdLane with SYSTEMD_LANE=1. The test boots a copy of the
// rootfs with systemd-nspawn (systemd as PID 1, the host's network namespace, so loopback ports are
// shared), runs commands inside with nsenter, and walks the package and the service through their life.
// Each stage is a function in laneStages; a later lane (a TPM key on swtpm, say) adds its own.

// laneStage is one step of the lane; the stages run in order and the lane stops at the first failure.
type laneStage struct {
	name string
	run  func(t *testing.T, l *lane)
}

var laneStages = []laneStage{
	{"install-without-config", stageInstallWithoutConfig},
	{"write-config", stageWriteConfig},
	{"install-with-empty-key-store", stageEmptyKeyStore},
	{"key-and-sandbox", stageKeyAndSandbox},
	{"port-taken", stagePortTaken},
	{"serves-tokens", stageServesTokens},
	{"kill-9-restarts", stageKill9},
	{"sigterm-clean-stop", stageSIGTERM},
	{"restart-warm-up", stageWarmUp},
	{"reload-rotates-key", stageReloadRotatesKey},
	{"reload-config", stageReloadConfig},
	{"upgrade-while-polling", stageUpgrade},
	{"journal", stageJournal},
	{"unix-socket", stageUnixSocket},
	{"apt-get-remove", stageRemove},
	{"apt-get-purge", stagePurge},
}

// Paths inside the container.
const (
	cUnit       = "systemuser-agent.service"
	cConfig     = "/etc/systemuser-agent/config.yaml"
	cCred       = "/etc/credstore.encrypted/systemuser-agent-maskinporten.cred"
	cState      = "/var/lib/private/systemuser-agent/state.json"
	cBinary     = "/usr/bin/systemuser-agent"
	laneOrg     = "314250052"
	laneClient  = "lane-client"
	laneCaller  = "lane"
	startLimit  = 5 // StartLimitBurst of the unit
	bootTimeout = 60 * time.Second
)

// lane is the booted container and what the stages share.
type lane struct {
	root        string // the container's root directory on the host
	nspawn      *exec.Cmd
	pid         int // the container's systemd (PID 1 inside), as the host sees it
	hostAgent   string
	deb1, deb2  string // file names under /root inside the container
	v1, v2      string // their versions
	listenPort  int
	sandboxPort int
	secret      string
	sandbox     *exec.Cmd
	tokens      []string // every access token the lane saw, for the journal check
	stateBefore []byte   // state.json before the upgrade
}

func TestSystemdLane(t *testing.T) {
	if os.Getenv("SYSTEMD_LANE") == "" {
		t.Skip("SYSTEMD_LANE is not set: scripts/systemd-lane runs this test (it needs root, a Debian rootfs and two .debs)")
	}
	realdeps.Require(t, os.Geteuid() == 0, "root", "run scripts/systemd-lane as root (CI does)")
	realdeps.Tool(t, "systemd-nspawn", "apt-get install systemd-container")
	realdeps.Tool(t, "nsenter", "apt-get install util-linux")
	env := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("%s is not set: run the lane through scripts/systemd-lane", k)
		}
		return v
	}
	l := &lane{hostAgent: env("SYSTEMD_LANE_HOST_AGENT"), v1: env("SYSTEMD_LANE_V1"), v2: env("SYSTEMD_LANE_V2")}
	l.boot(t, env("SYSTEMD_LANE_ROOTFS"))
	for i, deb := range []string{env("SYSTEMD_LANE_DEB1"), env("SYSTEMD_LANE_DEB2")} {
		name := filepath.Base(deb)
		copyFile(t, deb, filepath.Join(l.root, "root", name), 0o644)
		if i == 0 {
			l.deb1 = "/root/" + name
		} else {
			l.deb2 = "/root/" + name
		}
	}
	for _, s := range laneStages {
		start := time.Now()
		ok := t.Run(s.name, func(t *testing.T) { s.run(t, l) })
		t.Logf("stage %s: %s", s.name, time.Since(start).Round(100*time.Millisecond))
		if !ok {
			t.Logf("service journal:\n%s", l.out(t, "journalctl", "--no-pager", "-u", cUnit))
			t.FailNow()
		}
	}
}

// boot copies the cached rootfs and boots it; cleanup powers it off and removes the copy.
func (l *lane) boot(t *testing.T, rootfs string) {
	if _, err := os.Stat(filepath.Join(rootfs, "usr/lib/systemd/systemd")); err != nil {
		t.Fatalf("the rootfs %s has no systemd: %v (scripts/systemd-lane builds it with debootstrap)", rootfs, err)
	}
	base, err := os.MkdirTemp("/var/tmp", "systemuser-agent-lane-")
	if err != nil {
		t.Fatal(err)
	}
	l.root = filepath.Join(base, "root")
	if out, err := exec.Command("cp", "-a", "--reflink=auto", rootfs, l.root).CombinedOutput(); err != nil {
		t.Fatalf("copy the rootfs: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(base, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.nspawn = exec.Command("systemd-nspawn", "-q", "--register=no", "--keep-unit", "--console=passive", "-D", l.root, "--boot")
	l.nspawn.Stdout, l.nspawn.Stderr = logf, logf
	if err := l.nspawn.Start(); err != nil {
		t.Fatalf("start systemd-nspawn: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = l.nspawn.Wait(); close(exited) }()
	t.Cleanup(func() {
		if l.sandbox != nil && l.sandbox.Process != nil {
			_ = l.sandbox.Process.Kill()
		}
		stopping := time.Now()
		_ = l.nspawn.Process.Signal(syscall.SIGTERM) // nspawn asks the container's systemd to power off
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = l.nspawn.Process.Kill()
			<-exited
		}
		t.Logf("container powered off in %s", time.Since(stopping).Round(100*time.Millisecond))
		logf.Close()
		if !t.Failed() {
			os.RemoveAll(base)
		} else {
			t.Logf("container kept in %s (console.log beside it)", base)
		}
	})
	deadline := time.Now().Add(bootTimeout)
	for l.pid == 0 && time.Now().Before(deadline) {
		l.pid = childNamed(l.nspawn.Process.Pid, "systemd")
		time.Sleep(100 * time.Millisecond)
	}
	if l.pid == 0 {
		t.Fatalf("the container's systemd did not appear within %s; see %s/console.log", bootTimeout, base)
	}
	var state string
	for time.Now().Before(deadline) { // the bus may not be up yet: retry until it answers
		out, _ := l.run(t, "timeout", "60", "systemctl", "is-system-running", "--wait")
		if state = strings.TrimSpace(out); state == "running" || state == "degraded" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if state != "running" && state != "degraded" {
		t.Fatalf("the container did not finish booting: is-system-running = %q", state)
	}
	t.Logf("booted %s in %s: systemd pid %d (host view)", l.root, time.Since(deadline.Add(-bootTimeout)).Round(100*time.Millisecond), l.pid)
}

// childNamed is the pid of parent's child whose comm is name, or 0.
func childNamed(parent int, name string) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) == name {
			return pid
		}
	}
	return 0
}

// run runs a command inside the container; it returns the combined output and the error.
func (l *lane) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(l.pid), "-a", "--"}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// out runs a command inside the container and fails t if it fails.
func (l *lane) out(t *testing.T, args ...string) string {
	t.Helper()
	out, err := l.run(t, args...)
	if err != nil {
		t.Fatalf("in the container: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// show is "systemctl show" of the unit as a map.
func (l *lane) show(t *testing.T) map[string]string {
	t.Helper()
	out := l.out(t, "systemctl", "show", cUnit, "--property=ActiveState,SubState,Result,NRestarts,MainPID,ExecMainCode,ExecMainStatus,InvocationID,UnitFileState")
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// waitShow polls the unit until cond holds, failing t after timeout.
func (l *lane) waitShow(t *testing.T, what string, timeout time.Duration, cond func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := l.show(t)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; the unit says %v", what, timeout, m)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// inContainer is a path inside the container as the host sees it.
func (l *lane) inContainer(p string) string { return filepath.Join(l.root, p) }

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tokenReply is the agent's answer to a token request.
type tokenReply struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	Error       string `json:"error"`
}

var laneHTTP = &http.Client{Timeout: 5 * time.Second}

// token asks the agent in the container for a token as the lane's caller.
func (l *lane) token() (tokenReply, error) { return l.tokenAs(laneCaller, l.secret) }

// tokenAs asks the agent in the container for a token as caller id with secret.
func (l *lane) tokenAs(id, secret string) (tokenReply, error) {
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/oauth2/token", l.listenPort),
		strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return tokenReply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := laneHTTP.Do(req)
	if err != nil {
		return tokenReply{}, err
	}
	defer resp.Body.Close()
	var r tokenReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || r.AccessToken == "" {
		return r, fmt.Errorf("HTTP %d: %s", resp.StatusCode, r.Error)
	}
	return r, nil
}

// waitToken polls until the caller gets a token; it returns how long that took.
func (l *lane) waitToken(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < timeout {
		r, err := l.token()
		if err == nil {
			l.tokens = append(l.tokens, r.AccessToken)
			if r.ExpiresIn <= 0 {
				t.Fatalf("a token with expires_in %d", r.ExpiresIn)
			}
			return time.Since(start)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no token within %s: %v", timeout, last)
	return 0
}

// doctor runs "systemuser-agent doctor" inside and fails t unless its output has every want and it sees
// the package's unit as the installed service.
func (l *lane) doctor(t *testing.T, want ...string) {
	t.Helper()
	out, _ := l.run(t, cBinary, "doctor")
	if strings.Contains(out, "the service is not installed") {
		t.Errorf("doctor does not see the package's unit:\n%s", out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("doctor does not say %q:\n%s", w, out)
		}
	}
}

// countJournal counts lines of the service's journal containing s.
func (l *lane) countJournal(t *testing.T, s string) int {
	t.Helper()
	return strings.Count(l.out(t, "journalctl", "--no-pager", "-o", "cat", "-u", cUnit), s)
}
