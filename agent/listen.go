package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// Listen opens the local endpoint's TCP listener on a literal loopback address only (D1): 127.0.0.0/8
// or ::1; a host name (even localhost), a wildcard or a LAN address is refused. There is no fallback
// port (D9): if the port is taken the error says so and how to find the owner. On Linux, a socket passed
// by systemd socket activation (LISTEN_FDS/LISTEN_PID naming this process) is used instead, after
// checking it is the same address. On Windows the socket takes SO_EXCLUSIVEADDRUSE.
//
// Listening on 127.0.0.1:p also holds [::1]:p (and the reverse), serving both, so that no other
// process can take the address a caller told "localhost" may resolve first; if another process already
// holds it, Listen refuses and says so. A host without the other family (IPv6 off) is fine: nobody can
// listen there either. Callers should still use the literal address.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	ap, err := config.LoopbackAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("agent: listen address: %w", err)
	}
	if ln, ok, err := listenInherited(ap); ok || err != nil {
		return ln, err
	}
	other, hasOther := otherFamily(ap.Addr())
	if !hasOther {
		return listenOne(ctx, ap)
	}
	// Hold the other loopback family's address on the same port too (issue 15 #7): a caller told
	// "localhost" may resolve it first, and a squatter there would harvest its secret. With port 0 the
	// kernel's choice may be taken on the other family: try a few.
	for try := 0; ; try++ {
		ln, err := listenOne(ctx, ap)
		if err != nil {
			return nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		oap := netip.AddrPortFrom(other, uint16(port))
		oln, err := listenOne(ctx, oap)
		switch {
		case err == nil:
			return newDualListener(ln, oln), nil
		case addrInUse(err) && ap.Port() == 0 && try < 8:
			_ = ln.Close()
			continue
		case addrInUse(err):
			_ = ln.Close()
			return nil, fmt.Errorf("agent: %s is free but %s is taken by another process: callers that "+
				"reach this port by the name localhost may resolve %s and hand their secret to it; stop "+
				"that process (find it as below), then start again. %w", ap, oap, other, err)
		default:
			// The other family is not configured here (e.g. IPv6 off): nobody can listen there either.
			return ln, nil
		}
	}
}

// listenOne listens on one literal loopback address.
func listenOne(ctx context.Context, ap netip.AddrPort) (net.Listener, error) {
	network := "tcp4"
	if ap.Addr().Is6() {
		network = "tcp6"
	}
	lc := net.ListenConfig{Control: listenControl()}
	ln, err := lc.Listen(ctx, network, ap.String())
	if err != nil {
		if addrInUse(err) {
			return nil, portTakenError(ap, err)
		}
		return nil, fmt.Errorf("agent: listening on %s: %w; check the listen setting", ap, err)
	}
	return ln, nil
}

// otherFamily is the loopback address of the other family that "localhost" may resolve to: ::1 for
// 127.0.0.1 and the reverse; other 127.0.0.0/8 addresses have none.
func otherFamily(a netip.Addr) (netip.Addr, bool) {
	switch {
	case a == netip.AddrFrom4([4]byte{127, 0, 0, 1}):
		return netip.IPv6Loopback(), true
	case a == netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
	}
	return netip.Addr{}, false
}

// dualListener serves the configured address and holds the other loopback family's address on the
// same port, serving it too. Addr is the configured address.
type dualListener struct {
	net.Listener // the configured address
	other        net.Listener
	conns        chan net.Conn
	errs         chan error
	done         chan struct{}
	closeOnce    sync.Once
}

func newDualListener(main, other net.Listener) *dualListener {
	d := &dualListener{Listener: main, other: other, conns: make(chan net.Conn), errs: make(chan error, 2),
		done: make(chan struct{})}
	for _, ln := range []net.Listener{main, other} {
		go d.pump(ln)
	}
	return d
}

// pump hands ln's connections to Accept until ln fails or d closes.
func (d *dualListener) pump(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case d.errs <- err:
			case <-d.done:
			}
			return
		}
		select {
		case d.conns <- c:
		case <-d.done:
			_ = c.Close()
			return
		}
	}
}

// Accept returns the next connection of either address.
func (d *dualListener) Accept() (net.Conn, error) {
	select {
	case c := <-d.conns:
		return c, nil
	case err := <-d.errs:
		return nil, err
	case <-d.done:
		return nil, net.ErrClosed
	}
}

// Close closes both addresses.
func (d *dualListener) Close() error {
	d.closeOnce.Do(func() { close(d.done) })
	return errors.Join(d.Listener.Close(), d.other.Close())
}

// Other is the address held on the other loopback family.
func (d *dualListener) Other() net.Addr { return d.other.Addr() }

func portTakenError(ap netip.AddrPort, err error) error {
	p := ap.Port()
	return fmt.Errorf("agent: port %d on %s is taken by another process (%w). The agent never binds "+
		"another port: a process squatting on the configured port could harvest caller secrets. Find the "+
		"owner with `ss -ltnp 'sport = :%d'` (Linux), `lsof -nP -iTCP:%d -sTCP:LISTEN` (macOS) or "+
		"`netstat -abno | findstr :%d` as Administrator (Windows); stop it, or change listen in the "+
		"config and in every caller", p, ap.Addr(), err, p, p, p)
}
