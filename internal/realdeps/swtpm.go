package realdeps

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// SWTPM starts a software TPM 2.0 (swtpm socket) with fresh state on free loopback ports, stopped when
// the test ends, and returns the port of its command socket on 127.0.0.1 (the control socket is the next
// port). Without swtpm it skips t, or fails it in CI.
func SWTPM(t testing.TB) int {
	t.Helper()
	bin := Tool(t, "swtpm", "apt-get install swtpm swtpm-tools")
	state := t.TempDir()
	var lastErr string
	for range 10 {
		port := freePortPair(t)
		cmd := exec.Command(bin, "socket", "--tpm2", "--tpmstate", "dir="+state,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
			"--flags", "not-need-init,startup-clear")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start swtpm: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if waitListening(net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)), exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			return port
		}
		_ = cmd.Process.Kill()
		<-exited
		lastErr = out.String() // most likely a port taken meanwhile: try others
	}
	t.Fatalf("swtpm did not start: %s", lastErr)
	return 0
}

// waitListening waits until addr accepts connections, or the process exits.
func waitListening(addr string, exited <-chan struct{}) bool {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// freePortPair returns a port P such that P and P+1 were free on loopback a moment ago.
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		l.Close()
		if err == nil && port < 65535 {
			l2.Close()
			return port
		}
	}
	t.Fatal("no two adjacent free loopback ports")
	return 0
}

// FreePort returns a loopback port nothing listened on a moment ago.
func FreePort(t testing.TB) int { t.Helper(); return freePortPair(t) }
