package sandbox

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is a part of the sandbox that faults apply to, named by its URL path prefix.
type Target string

const (
	// TargetMaskinporten is every Maskinporten endpoint: /token, /jwk and the metadata.
	TargetMaskinporten Target = "/maskinporten/"
	// TargetAltinn is every Altinn endpoint except the token exchange.
	TargetAltinn Target = "/altinn/"
	// TargetExchange is the Altinn token exchange (GET .../exchange/maskinporten).
	TargetExchange Target = "/altinn/authentication/api/v1/exchange/"
)

// Fault is what the sandbox does to the next requests of a Target instead of, or on top of, serving them.
// The parts apply in this order: Delay, then one of Reset, Status, LoseReply (first set wins), else the
// request is served normally (after the delay).
type Fault struct {
	// Status replies with this HTTP status without handling the request: Maskinporten targets get an
	// OAuth error body, Altinn targets an empty body.
	Status int
	// RetryAfter sets the Retry-After header (whole seconds, rounded up) on a Status reply.
	RetryAfter time.Duration
	// Delay holds the request this long first (a slow reply, or a timeout for a client with a shorter
	// deadline). A request whose context ends during the delay is dropped unhandled.
	Delay time.Duration
	// Reset closes the connection without a reply and without handling the request.
	Reset bool
	// LoseReply handles the request fully (a grant's jti is consumed, a POST is stored), then closes the
	// connection instead of replying.
	LoseReply bool
	// Times is how many requests the fault applies to; 0 means until ClearFaults.
	Times int
}

// faultSet holds the injected faults per target, in injection order, and the clock offset.
type faultSet struct {
	mu     sync.Mutex
	queue  map[Target][]*pendingFault
	offset atomic.Int64 // nanoseconds added to the sandbox clock
}

type pendingFault struct {
	f    Fault
	left int // requests left; unused when f.Times == 0
}

// Inject queues f for target t. Faults of one target apply one after another: the first until its Times
// are used up, then the next; a fault with Times 0 stays first until ClearFaults.
func (s *Sandbox) Inject(t Target, f Fault) {
	f.Times = max(f.Times, 0)
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.queue == nil {
		s.faults.queue = map[Target][]*pendingFault{}
	}
	s.faults.queue[t] = append(s.faults.queue[t], &pendingFault{f: f, left: f.Times})
}

// ClearFaults removes every injected fault and the clock offset.
func (s *Sandbox) ClearFaults() {
	s.faults.mu.Lock()
	s.faults.queue = nil
	s.faults.mu.Unlock()
	s.faults.offset.Store(0)
}

// SetClockOffset shifts the sandbox clock (Options.Now) by d for both halves: a server whose clock is off
// (maskinporten.md §7.14). ClearFaults resets it.
func (s *Sandbox) SetClockOffset(d time.Duration) { s.faults.offset.Store(int64(d)) }

// clockOffset is the current SetClockOffset value; sandbox.go's now adds it.
func (fs *faultSet) clockOffset() time.Duration { return time.Duration(fs.offset.Load()) }

// take returns the fault for the next request of t and uses up one of its Times.
func (fs *faultSet) take(t Target) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	q := fs.queue[t]
	if len(q) == 0 {
		return Fault{}, false
	}
	p := q[0]
	if p.f.Times > 0 {
		if p.left--; p.left == 0 {
			fs.queue[t] = q[1:]
		}
	}
	return p.f, true
}

// targetOf maps a request path to its fault target.
func targetOf(path string) (Target, bool) {
	for _, t := range []Target{TargetExchange, TargetAltinn, TargetMaskinporten} {
		if strings.HasPrefix(path, string(t)) {
			return t, true
		}
	}
	return "", false
}

// withFaults counts each request at the door (Stats) and applies injected faults. It also learns the base
// URL from the first request when neither Start nor SetBaseURL set it.
func (s *Sandbox) withFaults(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.learnBaseURL(r)
		t, ok := targetOf(r.URL.Path)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if t != TargetMaskinporten || r.URL.Path == "/maskinporten/token" {
			s.count(t)
		}
		f, ok := s.faults.take(t)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		s.stats.faults.Add(1)
		s.log.Info("sandbox: injecting fault", "path", r.URL.Path, "fault", fmt.Sprintf("%+v", f))
		if f.Delay > 0 {
			timer := time.NewTimer(f.Delay)
			defer timer.Stop()
			select {
			case <-r.Context().Done():
				return
			case <-timer.C:
			}
		}
		switch {
		case f.Reset:
			abortConn(w)
		case f.Status != 0:
			writeFault(w, t, f)
		case f.LoseReply:
			h.ServeHTTP(&discardWriter{header: http.Header{}}, r)
			abortConn(w)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// writeFault sends an injected status reply.
func writeFault(w http.ResponseWriter, t Target, f Fault) {
	if f.RetryAfter > 0 {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	if t != TargetMaskinporten {
		w.WriteHeader(f.Status)
		return
	}
	e := "server_error"
	switch {
	case f.Status == http.StatusServiceUnavailable:
		e = "temporarily_unavailable"
	case f.Status < 500:
		e = "invalid_request"
	}
	writeJSON(w, f.Status, map[string]string{"error": e, "error_description": "sandbox fault: injected HTTP " + strconv.Itoa(f.Status)})
}

// abortConn closes the client connection without a reply: a TCP reset where the connection can be
// hijacked (HTTP/1), else the server's abort (http.ErrAbortHandler).
func abortConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// discardWriter swallows a reply that LoseReply drops.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// learnBaseURL sets the base URL from the first request's Host when it is still unset.
func (s *Sandbox) learnBaseURL(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.baseURL != "" || r.Host == "" {
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	s.baseURL = scheme + "://" + r.Host
}
