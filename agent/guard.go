package agent

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// route is one endpoint of the local API.
type route struct {
	name   string // the path, or "other"; a fixed set, safe as a metric label
	method string // the only method allowed
	serve  func(s *Server, w http.ResponseWriter, r *http.Request, q *request)
	index  int // of the route's request counters (metrics.requestCounter)
}

var routes = map[string]route{
	"/oauth2/token":      {"/oauth2/token", http.MethodPost, (*Server).serveToken, 1},
	"/oauth2/introspect": {"/oauth2/introspect", http.MethodPost, (*Server).serveIntrospect, 2},
	"/healthz":           {"/healthz", http.MethodGet, (*Server).serveHealth, 3},
	"/readyz":            {"/readyz", http.MethodGet, (*Server).serveReady, 4},
	"/metrics":           {"/metrics", http.MethodGet, (*Server).serveMetrics, 5},
}

// otherRoute is any path that is not an endpoint.
var otherRoute = route{name: "other", index: 0}

// numRoutes is how many route indexes there are, otherRoute's included.
const numRoutes = 6

// reqLog collects what the request line in the log names.
type reqLog struct {
	clientID string // set once the caller is authenticated
}

// request is the state of one request to the API: the status writer, the log fields, the body bound,
// the parsed form and the presented credentials. It comes from requestPool and goes back to it, cleared,
// when the request ends (nothing keeps it: the token wait bound, a context the token source may keep, is
// not part of it); the form and credentials are views into a pooled scratch, wiped and returned then.
type request struct {
	sw    statusWriter
	log   reqLog
	body  bodyLimit
	form  oauthForm
	creds credentials
	start time.Time    // the request's reading of the real clock
	now   time.Time    // token time at start: start itself, or Options.Now's reading when a clock is injected
	sc    *scratch     // from scratchPool on first use
	conn  *trackedConn // the connection, when served through Run; else nil
}

// scratch is the request's scratch, taken from the pool on first use.
func (q *request) scratch() *scratch {
	if q.sc == nil {
		q.sc = getScratch()
	}
	return q.sc
}

// requestPool recycles request states: one less allocation of about half a kilobyte per request.
var requestPool = sync.Pool{New: func() any { return new(request) }}

// recycle releases the scratch and returns q, cleared, to requestPool. q must not be used after.
func (q *request) recycle() {
	q.release()
	*q = request{}
	requestPool.Put(q)
}

// release wipes and returns the scratch and forgets the views into it.
func (q *request) release() {
	if q.sc != nil {
		q.form, q.creds = oauthForm{}, credentials{}
		q.sc.release()
		q.sc = nil
	}
}

// bodyLimit is http.MaxBytesReader kept inside the request's state (D8): reads past n bytes fail with
// *http.MaxBytesError.
type bodyLimit struct {
	r   io.ReadCloser
	n   int64 // bytes left
	err error
}

func (l *bodyLimit) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p))-1 > l.n { // one byte more than is left tells whether the body goes past the limit
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	if int64(n) <= l.n {
		l.n -= int64(n)
		l.err = err
		return n, err
	}
	n, l.n = int(l.n), 0
	l.err = &http.MaxBytesError{Limit: maxBodyBytes}
	return n, l.err
}

func (l *bodyLimit) Close() error { return l.r.Close() }

// statusWriter remembers the status for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// hostAllowlist is the D2 set of Host values.
type hostAllowlist struct {
	exact map[string]bool // lower-case host:port
	names map[string]bool // host names accepted with any port or none (Unix socket only)
}

// hostsFor is the allowlist for a listener address, refusing any address that is not loopback TCP, a
// Unix socket or a named pipe (D1).
func hostsFor(a net.Addr) (hostAllowlist, error) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
		if !ok || !ip.IsLoopback() {
			return hostAllowlist{}, fmt.Errorf("agent: refusing to serve on %s: not a loopback address; "+
				"listen on 127.0.0.1:<port> or [::1]:<port> (use agent.Listen)", a)
		}
		p := ":" + strconv.Itoa(a.Port)
		h := hostAllowlist{exact: map[string]bool{"127.0.0.1" + p: true, "[::1]" + p: true, "localhost" + p: true}}
		h.exact[netip.AddrPortFrom(ip, uint16(a.Port)).String()] = true
		return h, nil
	case *net.UnixAddr:
		return hostAllowlist{names: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}, nil
	}
	if a.Network() == "pipe" { // a Windows named pipe (package peer): local only, like a Unix socket
		return hostAllowlist{names: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}, nil
	}
	return hostAllowlist{}, fmt.Errorf("agent: refusing to serve on %s (%T): only loopback TCP, Unix "+
		"sockets and named pipes are served", a, a)
}

func (h hostAllowlist) allows(host string) bool {
	if h.exact[host] { // the usual Host, already in lower case: no copy
		return true
	}
	host = strings.ToLower(host)
	if h.exact[host] {
		return true
	}
	if len(h.names) == 0 {
		return false
	}
	if name, _, err := net.SplitHostPort(host); err == nil {
		return h.names[name]
	}
	return h.names[strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")]
}

// refusal says why a request is refused before routing (D2, D3, D4), or "" when it may proceed. The
// request's headers (a handful) are looked at in one pass rather than looked up once per refused name;
// when several refusals apply, the first in the order below is reported.
func refusal(hosts hostAllowlist, r *http.Request) (defence, reason string) {
	if !hosts.allows(r.Host) {
		return "D2", "the Host header must name this agent's loopback address"
	}
	var origin, referer, fetchSite, proxied bool
	for k, v := range r.Header {
		switch k {
		case "Origin":
			origin = true
		case "Referer":
			referer = true
		case "Sec-Fetch-Site":
			fetchSite = len(v) != 1 || v[0] != "none"
		// Proxy markers (D4): Forwarded, Via and X-Forwarded-For/-Host are the design's list;
		// X-Forwarded-Proto and X-Real-Ip are refused too, as no direct caller sends them.
		case "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "Via", "X-Real-Ip":
			proxied = true
		}
	}
	switch {
	case origin:
		return "D3", "requests from web pages (Origin) are refused"
	case referer:
		return "D3", "requests from web pages (Referer) are refused"
	case fetchSite:
		return "D3", "requests from web pages (Sec-Fetch-Site) are refused"
	case proxied:
		return "D4", "requests relayed by a proxy are refused"
	}
	return "", ""
}

// setHygiene sets the D16 headers, and Date (date: its value for the current second, see dateCache).
// Every response gets them, errors included; none is ever an Access-Control-Allow-* header.
func setHygiene(h http.Header, date []string) {
	for _, kv := range hygieneHeaders {
		h[kv.key] = kv.value
	}
	h["Date"] = date
}

// hygieneHeaders are the D16 headers, keys canonical. Each value slice is shared by every response,
// which saves an allocation per header on the hot path: it is safe because its length equals its
// capacity (an Add appends into a new array) and nothing writes into a header's value slice in place.
// With Date they are six headers (Content-Length makes seven), which a Go map holds in one group of
// slots (a ninth would double what net/http allocates and copies for the header map of every response):
// a reply that fits net/http's 2 KiB response buffer leaves Content-Length to net/http
// (servedReply.write). X-Frame-Options and Referrer-Policy are not sent: the agent serves no HTML
// (docs/security.md, D16).
var hygieneHeaders = []struct {
	key   string
	value []string
}{
	{"Cache-Control", []string{"no-store"}},
	{"Pragma", []string{"no-cache"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Content-Security-Policy", []string{"default-src 'none'; frame-ancestors 'none'"}},
	{"Content-Type", []string{"application/json"}},
}

// dateCache is the Date header value of the current second, formatted once per second instead of once
// per response (net/http formats its own Date, after a reading of the wall clock, on every response
// without one).
type dateCache struct {
	cur atomic.Pointer[dateValue]
}

type dateValue struct {
	sec   int64
	value []string // shared by every response of sec: len == cap, and net/http only reads it
}

// value is the Date header value for t.
func (d *dateCache) value(t time.Time) []string {
	sec := t.Unix()
	if v := d.cur.Load(); v != nil && v.sec == sec {
		return v.value
	}
	v := &dateValue{sec: sec, value: []string{t.UTC().Format(http.TimeFormat)}}
	d.cur.Store(v)
	return v.value
}

// handlerFor builds the API with its checks before routing, in the order of security.md: hygiene
// headers first (D16), then Host (D2), browser markers (D3), proxy markers (D4), the body limit (D8),
// the route and its method, and only then the endpoint.
func (s *Server) handlerFor(hosts hostAllowlist) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := requestPool.Get().(*request)
		// Served through Run, a request in its handler marks its connection, so that it is never closed
		// to make room (connTable); net/http marks it active before its headers are read.
		if tc, ok := r.Context().Value(connKey{}).(*trackedConn); ok {
			tc.t.setPhase(tc, phaseHandler)
			q.conn = tc
		}
		q.start = s.clk.Now()
		q.now = s.clock(q.start)
		setHygiene(w.Header(), s.dates.value(q.start))
		q.sw.ResponseWriter = w
		sw := &q.sw
		rt, known := routes[r.URL.Path]
		if !known {
			rt = otherRoute
		}
		defer s.finish(r, rt, q)
		if defence, reason := refusal(hosts, r); defence != "" {
			s.metrics.refused.WithLabelValues(defence).Inc()
			s.log.Info("request refused", "defence", defence, "reason", reason, "method", r.Method,
				"route", rt.name, "remote", r.RemoteAddr)
			writeError(sw, http.StatusForbidden, "access_denied", reason)
			return
		}
		q.body = bodyLimit{r: r.Body, n: maxBodyBytes}
		r.Body = &q.body
		switch {
		case !known:
			writeError(sw, http.StatusNotFound, "not_found", "no such endpoint")
		case r.Method != rt.method:
			sw.Header().Set("Allow", rt.method)
			writeError(sw, http.StatusMethodNotAllowed, "invalid_request", rt.name+" accepts only "+rt.method)
		default:
			rt.serve(s, sw, r, q)
		}
	})
}

// finish recovers a panic without logging its value, counts the request and logs one line at debug.
// The line names method, route, status, client and duration; never headers, bodies or tokens.
func (s *Server) finish(r *http.Request, rt route, q *request) {
	sw := &q.sw
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			q.release() // not recycled: net/http's recovery may still look at the request
			panic(v)
		}
		s.log.Error("request handler panicked; answered 500", "route", rt.name, "panic_type", fmt.Sprintf("%T", v))
		if sw.status == 0 {
			writeError(sw, http.StatusInternalServerError, "server_error", "internal error")
		}
	}
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	s.metrics.requestCounter(rt, sw.status).Inc()
	if s.log.Enabled(r.Context(), slog.LevelDebug) { // building the arguments allocates: only when logged
		s.log.Debug("request", "method", r.Method, "route", rt.name, "status", sw.status, "client_id", q.log.clientID,
			"duration", time.Since(q.start))
	}
	q.recycle()
}
