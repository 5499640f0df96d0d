package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// ipv6Loopback skips when this host has no ::1 (IPv6 off): then no process can squat there either.
func ipv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this host (%v): nobody can listen on [::1] here", err)
	}
	_ = ln.Close()
}

// TestListenHoldsBothFamilies (issue 15 #7): listening on 127.0.0.1:p also holds [::1]:p, so a local
// process cannot bind it and harvest the secret of a caller whose "localhost" resolves to ::1; a
// caller there reaches the agent itself. The same holds from [::1]:p for 127.0.0.1:p.
func TestListenHoldsBothFamilies(t *testing.T) {
	ipv6Loopback(t)
	for _, tc := range []struct{ addr, other string }{{"127.0.0.1:0", "[::1]"}, {"[::1]:0", "127.0.0.1"}} {
		t.Run(tc.addr, func(t *testing.T) {
			ln, err := Listen(context.Background(), tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			squat, err := net.Listen("tcp", tc.other+":"+port)
			if err == nil {
				_ = squat.Close()
				t.Fatalf("another process could listen on %s:%s while the agent listens on %s", tc.other, port, ln.Addr())
			}
		})
	}
	// The agent serves the other family too.
	a := startAgent(t, nil)
	resp, err := http.Get(fmt.Sprintf("http://[::1]:%d/healthz", a.port))
	if err != nil {
		t.Fatalf("the agent does not answer on [::1]:%d: %v", a.port, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("[::1]: %d", resp.StatusCode)
	}
	if !strings.Contains(a.logs.String(), "also_holding=[::1]:") || !strings.Contains(a.logs.String(), "not localhost") {
		t.Errorf("the start line does not say which addresses are held and what callers should use:\n%s", a.logs)
	}
}

// TestListenOtherFamilySquatted: when another process already holds [::1]:p, the agent refuses to
// start on 127.0.0.1:p and says why and how to find it.
func TestListenOtherFamilySquatted(t *testing.T) {
	ipv6Loopback(t)
	squat, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	port := strconv.Itoa(squat.Addr().(*net.TCPAddr).Port)
	ln, err := Listen(context.Background(), "127.0.0.1:"+port)
	if err == nil {
		_ = ln.Close()
		t.Fatalf("the agent started on 127.0.0.1:%s while another process held [::1]:%s", port, port)
	}
	for _, want := range []string{"[::1]:" + port, "localhost", "ss -ltnp"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
