package agent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/winelane"
)

// chanListener hands out the connections sent on c.
type chanListener struct {
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// peerPipe is a pipe end whose peer is known, like a Unix socket connection with SO_PEERCRED.
type peerPipe struct {
	net.Conn
	peer string
}

func (p peerPipe) peerID() string { return p.peer }

// closedOf reports whether the server end of a pipe was closed, seen from the client end.
func closedOf(client net.Conn) bool {
	_ = client.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := client.Read(make([]byte, 1))
	_ = client.SetReadDeadline(time.Time{})
	return err == io.EOF || err == io.ErrClosedPipe
}

// TestD8ConnTable: at the limit a new connection closes the longest-idle one, else the oldest one not
// in a handler; connections in a handler are never closed, and with every slot in a handler Accept
// waits for one to finish. A known peer over its share gives up only its own idle connections.
func TestD8ConnTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fl := &chanListener{c: make(chan net.Conn), done: make(chan struct{})}
		tbl := newConnTable(3)
		ll := newConnListener(fl, tbl)
		accepted := make(chan *trackedConn, 8)
		go func() {
			for {
				c, err := ll.Accept()
				if err != nil {
					return
				}
				accepted <- c.(*trackedConn)
			}
		}()
		dial := func(peer string) (net.Conn, func() *trackedConn) {
			server, client := net.Pipe()
			var sc net.Conn = server
			if peer != "" {
				sc = peerPipe{Conn: server, peer: peer}
			}
			go func() {
				select {
				case fl.c <- sc:
				case <-fl.done:
				}
			}()
			return client, func() *trackedConn {
				synctest.Wait()
				select {
				case c := <-accepted:
					return c
				default:
					return nil
				}
			}
		}
		c1, a1 := dial("")
		s1 := a1()
		tbl.track(s1, http.StateActive)
		tbl.track(s1, http.StateIdle) // served, keep-alive
		time.Sleep(time.Second)
		c2, a2 := dial("")
		s2 := a2()
		tbl.track(s2, http.StateActive)
		tbl.track(s2, http.StateIdle)
		c3, a3 := dial("")
		if a3() == nil {
			t.Fatal("third connection not accepted under the limit")
		}
		time.Sleep(time.Second)

		_, a4 := dial("")
		if s4 := a4(); s4 == nil {
			t.Fatal("a new connection waited while an idle one held a slot")
		} else {
			tbl.track(s4, http.StateActive)
		}
		if !closedOf(c1) || closedOf(c2) || closedOf(c3) {
			t.Fatalf("closed: c1 %v c2 %v c3 %v; want only c1 (idle the longest)", closedOf(c1), closedOf(c2), closedOf(c3))
		}
		_, a5 := dial("")
		if a5() == nil {
			t.Fatal("a new connection waited while idle c2 held a slot")
		}
		if !closedOf(c2) {
			t.Fatal("c2 (idle) was not closed for room")
		}
		_, a6 := dial("")
		if a6() == nil {
			t.Fatal("a new connection waited while silent c3 held a slot")
		}
		if !closedOf(c3) {
			t.Fatal("c3 (oldest, silent) was not closed for room")
		}

		// Every slot in a handler: the next connection waits until one finishes.
		tbl.mu.Lock()
		for c := range tbl.conns {
			c.phase = phaseHandler
		}
		var one *trackedConn
		for c := range tbl.conns {
			one = c
		}
		tbl.mu.Unlock()
		c7, a7 := dial("")
		if a7() != nil {
			t.Fatal("a connection was accepted while every slot held a request in a handler")
		}
		_ = one.Close()
		synctest.Wait()
		if len(accepted) != 1 {
			t.Fatal("the waiting connection was not accepted after a slot freed")
		}
		<-accepted
		_ = c7.Close()
		for c := range tbl.conns {
			_ = c.Close()
		}

		// A known peer holds at most perPeer (3/4 → 1): its second connection replaces its idle one, and
		// is refused while its first is in a handler.
		cp1, ap1 := dial("uid:1000")
		p1 := ap1()
		tbl.track(p1, http.StateActive)
		tbl.track(p1, http.StateIdle)
		_, ap2 := dial("uid:1000")
		p2 := ap2()
		if p2 == nil || !closedOf(cp1) {
			t.Fatal("a peer at its share did not give up its idle connection for its new one")
		}
		tbl.setPhase(p2, phaseHandler)
		cp3, ap3 := dial("uid:1000")
		if ap3() != nil || !closedOf(cp3) {
			t.Fatal("a peer over its share with no idle connection got another one")
		}
		_ = ll.Close()
		_ = p2.Close()
	})
}

// TestD8RunBoundsConnections: Run applies MaxConns; with one connection in a handler a second one
// waits until the first is answered.
func TestD8RunBoundsConnections(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	a := startAgent(t, func(o *Options) { o.MaxConns = 1 })
	a.src.set(func(f *fakeSource) { f.block, f.entered = block, entered })
	first := make(chan reply, 1)
	go func() { first <- a.tokenFor(t, idA, secretA, nil) }()
	<-entered
	c2, r2 := dialGet(t, a.port)
	_ = c2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r2.Peek(1); err == nil {
		t.Fatal("a second connection was served while the first was in a handler (MaxConns 1)")
	}
	close(block)
	if r := <-first; r.status != http.StatusOK {
		t.Fatalf("first request: %v", r)
	}
	_ = c2.SetReadDeadline(time.Time{})
	if resp, err := http.ReadResponse(r2, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second connection after the first was answered: %v", err)
	}
}

// dialGet opens a connection and sends GET /healthz (keep-alive) on it.
func dialGet(t testing.TB, port int) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// holdIdle opens n keep-alive connections with no credentials, each asking one /healthz, and keeps
// them open (the holder never closes them; the server may). It waits up to 5 s per answer: without the
// idle-first rule the connections past the limit are never answered while the first ones are held.
func holdIdle(t testing.TB, port, n int) (held []net.Conn, unanswered int) {
	t.Helper()
	held = make([]net.Conn, 0, n)
	var readers []*bufio.Reader
	for range n {
		c, r := dialGet(t, port)
		held, readers = append(held, c), append(readers, r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i, c := range held {
		_ = c.SetReadDeadline(deadline)
		resp, err := http.ReadResponse(readers[i], nil)
		if err != nil {
			unanswered++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return held, unanswered
}

// TestD8IdleConnectionsDoNotStarve is the drill of issue 15: with 256 or 1000 idle keep-alive
// connections held open by a process without credentials (the default limit is 256), a caller with a
// valid secret is served at once. The bound here is generous (the machine is shared); the 1 s target
// is BenchmarkIdleHeldCaller's.
func TestD8IdleConnectionsDoNotStarve(t *testing.T) {
	for _, n := range []int{256, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a := startAgent(t, nil)
			held, unanswered := holdIdle(t, a.port, n)
			if unanswered > 0 {
				t.Errorf("%d of %d idle-holder connections got no answer within 5 s", unanswered, n)
			}
			start := time.Now()
			done := make(chan reply, 1)
			go func() { done <- a.tokenFor(t, idA, secretA, nil) }()
			select {
			case r := <-done:
				if r.status != http.StatusOK {
					t.Fatalf("valid caller: %v", r)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("a valid caller was not served within 10 s while %d idle connections were held", n)
			}
			t.Logf("%d idle connections held: valid caller served in %s", n, time.Since(start).Round(time.Millisecond))
			_ = held
		})
	}
}

// TestD8ConnectionFlood: a process opening silent connections as fast as it can, and holding them all,
// does not stop callers with a valid secret for long: each of their requests (on a new connection, up
// to three tries) is served within a generous bound. The header timeout is raised to 30 s so that only
// the room-making rule (not the slowloris timeout) can free slots within the bound.
func TestD8ConnectionFlood(t *testing.T) {
	winelane.Skip(t, "a 10 s bound under a flood of 1500 connections through wine's emulated sockets on a shared machine measures the host, not Windows (the Linux lane runs it)")
	a := startAgent(t, func(o *Options) { o.Timeouts.ReadHeader, o.Timeouts.Read = 30*time.Second, 30*time.Second })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			var ring []net.Conn
			defer func() {
				for _, c := range ring {
					_ = c.Close()
				}
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", a.port), time.Second)
				if err != nil {
					continue
				}
				if ring = append(ring, c); len(ring) >= 1500 {
					<-stop // hold every connection
					return
				}
			}
		})
	}
	t.Cleanup(func() { close(stop); wg.Wait() })
	time.Sleep(500 * time.Millisecond) // the flood fills the limit
	for i := range 10 {
		start := time.Now()
		var last error
		served := false
		for try := 0; try < 3 && !served; try++ {
			tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			hr, _ := http.NewRequest(http.MethodPost, a.base+"/oauth2/token",
				strings.NewReader("grant_type=client_credentials"))
			hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			hr.SetBasicAuth(idA, secretA)
			resp, err := cl.Do(hr)
			if err != nil {
				last = err
				continue
			}
			_ = resp.Body.Close()
			served = resp.StatusCode == http.StatusOK
			last = fmt.Errorf("status %d", resp.StatusCode)
		}
		if !served {
			t.Fatalf("request %d during the flood: not served in 3 tries (%v) after %s", i, last, time.Since(start))
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("request %d during the flood took %s", i, d)
		}
	}
}

// BenchmarkIdleHeldCaller is the timing target of issue 15 #1: with the connection limit (256) full of
// idle keep-alive connections held by a process without credentials (1000 opened), a caller with a
// valid secret on a new connection is served within 1 s. It reports the slowest such request (max-s)
// besides the mean; after each request one more idle connection is opened, so the limit stays full.
func BenchmarkIdleHeldCaller(b *testing.B) {
	a := startAgent(b, nil)
	holdIdle(b, a.port, 1000)
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var slowest time.Duration
	for b.Loop() {
		start := time.Now()
		hr, _ := http.NewRequest(http.MethodPost, a.base+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hr.SetBasicAuth(idA, secretA)
		resp, err := cl.Do(hr)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		slowest = max(slowest, time.Since(start))
		b.StopTimer()
		holdIdle(b, a.port, 1)
		b.StartTimer()
	}
	b.ReportMetric(slowest.Seconds(), "max-s")
	if slowest > time.Second {
		b.Errorf("slowest valid caller %s with the limit full of idle connections, target ≤ 1 s", slowest)
	}
}
