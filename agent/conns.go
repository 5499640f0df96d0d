package agent

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// connTable bounds the connections of one listener (D8) without letting idle ones starve new callers:
// at the limit, a new connection makes room by closing, first, the connection idle the longest between
// requests (keep-alive), then the oldest one that has not yet reached a handler (a request line or
// headers still being read, or nothing sent at all). Connections whose request is being handled are
// never closed for room; when every slot holds one, the new connection waits for a slot. A process
// holding many idle or silent connections therefore only displaces its own oldest ones, and a caller
// that sends its request at once is served. Where the listener knows the peer (a Unix socket's uid),
// one peer holds at most perPeer connections: beyond that its own oldest idle one is closed, or the new
// one is refused.
//
// Connection states come from http.Server.ConnState (connTable.track) and from the handler (handlerFor
// marks its connection with connTable.setPhase): net/http marks a connection active once it has read from
// it for a request, which is not yet being in a handler, so "in a handler" is tracked separately.
type connTable struct {
	mu      sync.Mutex
	max     int
	perPeer int
	conns   map[*trackedConn]struct{}
	peers   map[string]int // open connections per known peer
	freed   chan struct{}  // signalled when a slot frees while Accept waits
	seq     uint64         // orders the connections' ages (trackedConn.since): no clock reading per request
	// writeTimeout bounds writing each response (D8, Timeouts.Write); zero means no bound. See armWrite.
	writeTimeout time.Duration
	clk          tokens.Clock
}

// tick is the next point of the table's own order of events; called with t.mu held.
func (t *connTable) tick() uint64 {
	t.seq++
	return t.seq
}

func newConnTable(limit int) *connTable {
	return &connTable{max: limit, perPeer: max(limit/4, 1), conns: make(map[*trackedConn]struct{}),
		peers: make(map[string]int), freed: make(chan struct{}, 1)}
}

// connPhase is where a connection is in its life, for choosing which one to close.
type connPhase int

const (
	phaseNew     connPhase = iota // accepted; no complete request handled yet, none in a handler
	phaseIdle                     // between requests (keep-alive)
	phaseReading                  // a request's first byte arrived; its headers are being read
	phaseHandler                  // a handler runs for it
)

// trackedConn is a connection counted in a connTable.
type trackedConn struct {
	net.Conn
	t        *connTable
	peer     string    // "" when the listener does not know the peer
	osUser   string    // the os_user an AttestedConn's peer matched (D10), else ""
	since    uint64    // when it was accepted or went idle, in t.seq's order; under t.mu
	phase    connPhase // under t.mu
	released bool      // under t.mu
	writeBy  time.Time // the write deadline armed on the connection; only its serving goroutine uses it
}

// writeSlack is how much later than its bound, as a share of it, a write deadline is armed, so that one
// arming serves the requests of the next writeBound/writeSlack (one second of the default 10 s).
const writeSlack = 10

// armWrite bounds the writes of a request that starts at now to d (D8): it arms the connection's write
// deadline at now+d+d/writeSlack unless the one armed already falls at or after now+d. Every write of a
// request therefore fails between d and 1.1×d after the request began, while the deadline is changed
// about once per d/writeSlack on a busy keep-alive connection instead of twice per request (as net/http's
// WriteTimeout does). Only the connection's serving goroutine calls it.
func (c *trackedConn) armWrite(now time.Time, d time.Duration) {
	if d <= 0 || !c.writeBy.Before(now.Add(d)) {
		return
	}
	c.writeBy = now.Add(d + d/writeSlack)
	_ = c.Conn.SetWriteDeadline(c.writeBy)
}

// SetWriteDeadline sets the write deadline, except that clearing it keeps the one armWrite set: net/http
// clears it after every response, and an armed deadline bounds nothing but writes, which only a request
// (armed again when it starts) makes.
func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	c.writeBy = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets the read deadline, and the write deadline as SetWriteDeadline does.
func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// Close closes the connection and frees its slot.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.t.release(c)
	return err
}

// peerConn is a connection whose peer the listener knows (the uid of a Unix socket peer).
type peerConn interface {
	// peerID names the peer, e.g. "uid:1000".
	peerID() string
}

// connListener is a net.Listener whose connections are bounded by a connTable.
type connListener struct {
	net.Listener
	t         *connTable
	done      chan struct{}
	closeOnce sync.Once
}

func newConnListener(ln net.Listener, t *connTable) *connListener {
	return &connListener{Listener: ln, t: t, done: make(chan struct{})}
}

// Accept takes the next connection and makes room for it (see connTable).
func (l *connListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, t: l.t}
		if pc, ok := c.(peerConn); ok {
			tc.peer = pc.peerID()
		}
		if ac, ok := c.(AttestedConn); ok {
			tc.osUser = ac.OSUser()
			if tc.peer == "" && tc.osUser != "" {
				tc.peer = "os_user:" + tc.osUser
			}
		}
		ok, err := l.t.admit(tc, l.done)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		if ok {
			return tc, nil
		}
		_ = c.Close() // a known peer over its share with nothing of its own to give up
	}
}

// Close stops Accept, including one waiting for a slot.
func (l *connListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// admit counts tc, closing another connection to make room when needed, or waits for a slot while every
// slot holds a request in a handler. It returns false when tc's peer is over its share and has no idle
// connection to give up.
func (t *connTable) admit(tc *trackedConn, done <-chan struct{}) (bool, error) {
	for {
		t.mu.Lock()
		if tc.peer != "" && t.peers[tc.peer] >= t.perPeer {
			v := t.victim(tc.peer)
			if v == nil {
				t.mu.Unlock()
				return false, nil
			}
			t.evict(v)
			continue
		}
		if len(t.conns) < t.max {
			tc.since = t.tick()
			t.conns[tc] = struct{}{}
			if tc.peer != "" {
				t.peers[tc.peer]++
			}
			t.mu.Unlock()
			return true, nil
		}
		if v := t.victim(""); v != nil {
			t.evict(v)
			continue
		}
		t.mu.Unlock()
		select {
		case <-t.freed:
		case <-done:
			return false, net.ErrClosed
		}
	}
}

// victim picks the connection to close for room, among peer's own when peer is set: the longest idle,
// else the oldest not yet in a handler; nil if every one is in a handler. Called with t.mu held.
func (t *connTable) victim(peer string) *trackedConn {
	var idle, waiting *trackedConn
	for c := range t.conns {
		if peer != "" && c.peer != peer {
			continue
		}
		switch c.phase {
		case phaseIdle:
			if idle == nil || c.since < idle.since {
				idle = c
			}
		case phaseNew, phaseReading:
			if waiting == nil || c.since < waiting.since {
				waiting = c
			}
		}
	}
	if idle != nil {
		return idle
	}
	if peer != "" {
		return nil // a peer at its share gives up only idle connections; its new one waits its turn
	}
	return waiting
}

// evict closes v for room; it unlocks t.mu (closing a socket may block briefly).
func (t *connTable) evict(v *trackedConn) {
	t.drop(v)
	t.mu.Unlock()
	_ = v.Conn.Close()
}

// drop forgets c; called with t.mu held.
func (t *connTable) drop(c *trackedConn) {
	if c.released {
		return
	}
	c.released = true
	delete(t.conns, c)
	if c.peer != "" {
		if t.peers[c.peer]--; t.peers[c.peer] <= 0 {
			delete(t.peers, c.peer)
		}
	}
	t.signal()
}

func (t *connTable) release(c *trackedConn) {
	t.mu.Lock()
	t.drop(c)
	t.mu.Unlock()
}

// setPhase records a phase change of c.
func (t *connTable) setPhase(c *trackedConn, p connPhase) {
	t.mu.Lock()
	if !c.released {
		if p == phaseIdle || c.phase == phaseIdle {
			c.since = t.tick() // idle connections age from their last request; others from accept
		}
		c.phase = p
		if p != phaseHandler {
			t.signal() // a connection out of its handler may be closed for a waiting one
		}
	}
	t.mu.Unlock()
}

// signal wakes an Accept waiting for room; called with t.mu held.
func (t *connTable) signal() {
	select {
	case t.freed <- struct{}{}:
	default:
	}
}

// track is the http.Server.ConnState hook.
func (t *connTable) track(c net.Conn, s http.ConnState) {
	tc, ok := c.(*trackedConn)
	if !ok {
		return
	}
	switch s {
	case http.StateActive: // net/http read (part of) a request and writes nothing before: bound its writes
		tc.armWrite(t.clk.Now(), t.writeTimeout)
		t.setPhase(tc, phaseReading)
	case http.StateIdle:
		t.setPhase(tc, phaseIdle)
	case http.StateHijacked, http.StateClosed:
		t.release(tc)
	}
}

// connKey is the context key of the *trackedConn serving a request.
type connKey struct{}

// connContext is the http.Server.ConnContext hook: it lets the handler find its connection.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*trackedConn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}
