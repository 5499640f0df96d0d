package agent

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inheritFD makes a loopback listener and returns a fresh descriptor for it, as systemd would pass.
func inheritFD(t *testing.T) (int, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	_ = ln.Close()
	return fd, ln.Addr().(*net.TCPAddr).AddrPort()
}

// TestD9SystemdSocketActivation: a socket passed with LISTEN_PID/LISTEN_FDS naming this process is
// served; one on another address, or meant for another process, is not used.
func TestD9SystemdSocketActivation(t *testing.T) {
	pid := os.Getpid()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	fd, ap := inheritFD(t)
	ln, ok, err := inheritedListener(env(map[string]string{"LISTEN_PID": strconv.Itoa(pid), "LISTEN_FDS": "1"}),
		pid, fd, ap)
	if err != nil || !ok {
		t.Fatalf("inherited socket not used: ok=%v err=%v", ok, err)
	}
	a := startAgentOn(t, ln)
	if r := a.tokenFor(t, idA, secretA, nil); r.status != 200 {
		t.Fatalf("token over the inherited socket: %v", r)
	}

	if _, ok, err := inheritedListener(env(map[string]string{"LISTEN_PID": strconv.Itoa(pid + 1),
		"LISTEN_FDS": "1"}), pid, -1, ap); ok || err != nil {
		t.Errorf("a socket for another pid was used: ok=%v err=%v", ok, err)
	}
	fd2, ap2 := inheritFD(t)
	other := netip.AddrPortFrom(ap2.Addr(), ap2.Port()+1)
	_, ok, err = inheritedListener(env(map[string]string{"LISTEN_PID": strconv.Itoa(pid), "LISTEN_FDS": "1"}),
		pid, fd2, other)
	if ok || err == nil || !strings.Contains(err.Error(), "ListenStream=") {
		t.Errorf("a socket on another address: ok=%v err=%v", ok, err)
	}
	if _, ok, err := inheritedListener(env(map[string]string{"LISTEN_PID": strconv.Itoa(pid), "LISTEN_FDS": "2"}),
		pid, -1, ap); ok || err == nil {
		t.Errorf("two sockets accepted: ok=%v err=%v", ok, err)
	}
}

// startAgentOn is startAgent on a given listener.
func startAgentOn(t *testing.T, ln net.Listener) *testAgent {
	t.Helper()
	a := &testAgent{clock: newFakeClock()}
	a.src = &fakeSource{clock: a.clock}
	log, logs := newTestLogger()
	a.logs = logs
	srv, err := New(Options{Config: testConfig(), Tokens: a.src, Logger: log, Now: a.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.srv, a.cancel, a.done = srv, cancel, make(chan error, 1)
	go func() { a.done <- srv.Run(ctx, ln) }()
	tr := &http.Transport{Proxy: nil}
	if ua, ok := ln.Addr().(*net.UnixAddr); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", ua.Name)
		}
		a.base = "http://localhost"
	} else {
		a.port = ln.Addr().(*net.TCPAddr).Port
		a.base = "http://127.0.0.1:" + strconv.Itoa(a.port)
	}
	a.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		cancel()
		if err := <-a.done; err != nil {
			t.Errorf("Run: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return a
}

// TestD10UnixSocketPeerCred: only allowed peer uids are served over the Unix socket, which lives in a
// 0750 directory; a directory others can write is refused.
func TestD10UnixSocketPeerCred(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run", "agent.sock")
	ln, err := ListenUnix(path, []int{os.Getuid()})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("socket directory mode %v (%v), want 0750", fi.Mode().Perm(), err)
	}
	a := startAgentOn(t, ln)
	if r := a.tokenFor(t, idA, secretA, nil); r.status != 200 {
		t.Fatalf("allowed uid: %v", r)
	}
	if r := a.tokenFor(t, idA, "wrong", nil); r.status != 401 {
		t.Fatalf("allowed uid still needs its secret: %v", r)
	}
	if r := a.do(t, req{form: nil, method: "GET", path: "/healthz", host: "attacker.example"}); r.status != 403 {
		t.Fatalf("Host check over the socket: %v", r)
	}

	path2 := filepath.Join(dir, "run2", "agent.sock")
	ln2, err := ListenUnix(path2, []int{os.Getuid() + 4242})
	if err != nil {
		t.Fatal(err)
	}
	b := startAgentOn(t, ln2)
	hr, _ := http.NewRequest("GET", b.base+"/healthz", nil)
	if resp, err := b.client.Do(hr); err == nil {
		resp.Body.Close()
		t.Fatalf("a uid not on the list got %d", resp.StatusCode)
	}

	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if ln, err := ListenUnix(filepath.Join(open, "agent.sock"), []int{os.Getuid()}); err == nil {
		_ = ln.Close()
		t.Fatal("a world-writable socket directory was accepted")
	}
	if _, err := ListenUnix(path, []int{os.Getuid()}); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("a live socket was taken over: %v", err)
	}
}

// TestD10TwoUIDs: with only uid 65534 allowed, a process of that uid gets a token over the socket and
// root's connection is dropped. Needs root to start the second uid.
func TestD10TwoUIDs(t *testing.T) {
	if os.Getenv(childEnv) == "unixclient" {
		a := &testAgent{client: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _,
			_ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", os.Getenv("AGENT_TEST_SOCK"))
		}}}, base: "http://localhost"}
		_, _ = os.Stdout.WriteString("STATUS=" + strconv.Itoa(a.tokenFor(t, idA, secretA, nil).status) + "\n")
		return
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a client as a second uid; TestD10UnixSocketPeerCred covers the allowlist")
	}
	const nobody = 65534
	dir, err := os.MkdirTemp("", "d10")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run", "agent.sock")
	ln, err := ListenUnix(path, []int{nobody})
	if err != nil {
		t.Fatal(err)
	}
	// The callers' group may enter the directory and connect, as an installer would arrange.
	for _, p := range []string{filepath.Dir(path), path} {
		if err := os.Chown(p, -1, nobody); err != nil {
			t.Fatal(err)
		}
	}
	a := startAgentOn(t, ln)
	hr, _ := http.NewRequest("GET", a.base+"/healthz", nil)
	if resp, err := a.client.Do(hr); err == nil {
		resp.Body.Close()
		t.Fatalf("root (not on the list) got %d", resp.StatusCode)
	}
	bin := filepath.Join(dir, "agent.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestD10TwoUIDs$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"=unixclient", "AGENT_TEST_SOCK="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	t.Logf("child: %s", out)
	if err != nil || !strings.Contains(string(out), "STATUS=200") {
		t.Fatalf("uid %d over the socket: %v\n%s", nobody, err, out)
	}
}
