package agent

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// sdListenFDsStart is the first file descriptor systemd passes (SD_LISTEN_FDS_START).
const sdListenFDsStart = 3

// listenInherited returns the socket systemd passed by socket activation, if LISTEN_PID names this
// process, and then unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so no child inherits them. PID 1
// keeps the socket while the agent restarts, so no other process can take the port (D9).
func listenInherited(want netip.AddrPort) (net.Listener, bool, error) {
	ln, ok, err := inheritedListener(os.Getenv, os.Getpid(), sdListenFDsStart, want)
	if ok || err != nil {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			_ = os.Unsetenv(k)
		}
	}
	return ln, ok, err
}

// inheritedListener implements listenInherited with its environment, pid and first descriptor given.
func inheritedListener(getenv func(string) string, pid, firstFD int, want netip.AddrPort) (net.Listener,
	bool, error) {
	if getenv("LISTEN_PID") != strconv.Itoa(pid) {
		return nil, false, nil
	}
	n, err := strconv.Atoi(getenv("LISTEN_FDS"))
	if err != nil || n != 1 {
		return nil, false, fmt.Errorf("agent: systemd passed LISTEN_FDS=%q; the agent's socket unit must "+
			"have exactly one ListenStream=%s", getenv("LISTEN_FDS"), want)
	}
	if firstFD < 0 {
		return nil, false, fmt.Errorf("agent: no socket descriptor %d from systemd", firstFD)
	}
	unix.CloseOnExec(firstFD)
	f := os.NewFile(uintptr(firstFD), "systemd-socket")
	ln, err := net.FileListener(f)
	_ = f.Close()
	if err != nil {
		return nil, false, fmt.Errorf("agent: using the socket systemd passed (fd %d): %w; check the socket "+
			"unit's ListenStream=", firstFD, err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	got := netip.AddrPort{}
	if ok {
		got = tcp.AddrPort()
		got = netip.AddrPortFrom(got.Addr().Unmap(), got.Port())
	}
	if !ok || got.Addr() != want.Addr() || (want.Port() != 0 && got.Port() != want.Port()) {
		_ = ln.Close()
		return nil, false, fmt.Errorf("agent: systemd passed a socket on %s, but listen is %s; set the socket "+
			"unit's ListenStream=%s", ln.Addr(), want, want)
	}
	return ln, true, nil
}
