package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// Limits of the local API (D8). Headers are bounded by MaxHeaderBytes, which net/http extends by 4 KiB of
// read slack, so the value set is maxHeaderBytes-4096 and the effective bound is 16 KiB.
const (
	maxHeaderBytes = 16 << 10
	maxBodyBytes   = 16 << 10
	// DefaultMaxConns bounds concurrent connections per listener.
	DefaultMaxConns = 256
	// DefaultFailureLimit and DefaultFailureWindow are the D7 throttle: past this many failed client
	// authentications per client id (or per source) in the window, further failures answer 429 with
	// Retry-After instead of 401. The right secret is always served.
	DefaultFailureLimit  = 10
	DefaultFailureWindow = time.Minute
	// DefaultMaxIntrospect is how many served tokens the introspection endpoint remembers.
	DefaultMaxIntrospect = 4096
)

// Timeouts of the HTTP server (D8). A zero field takes its default.
type Timeouts struct {
	// ReadHeader bounds reading the request line and headers (default 5s; the slowloris defence).
	ReadHeader time.Duration
	// Read bounds reading the whole request (default 10s).
	Read time.Duration
	// Write bounds writing the response (default 10s).
	Write time.Duration
	// Idle bounds a keep-alive connection waiting for its next request (default 60s).
	Idle time.Duration
	// Shutdown bounds how long Run waits for in-flight requests after its context ends (default 10s).
	Shutdown time.Duration
	// Token bounds how long a token request waits for an upstream fetch before it is answered 503 with
	// Retry-After; the fetch goes on and fills the cache (default 5s, and always less than Write, so
	// the answer can still be written). Cache hits never wait.
	Token time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, 5*time.Second)
	def(&t.Read, 10*time.Second)
	def(&t.Write, 10*time.Second)
	def(&t.Idle, 60*time.Second)
	def(&t.Shutdown, 10*time.Second)
	def(&t.Token, 5*time.Second)
	if t.Token >= t.Write {
		t.Token = t.Write / 2
	}
	return t
}

// Options configure a Server. Config and Tokens are required.
type Options struct {
	// Config gives the listen address, organisation, system users and callers.
	Config *config.Config
	// Tokens hands out tokens, usually a *tokens.Cache.
	Tokens tokens.Source
	// Logger receives operational logs; nil discards them. Request lines are logged at debug.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Ready reports readiness (key readable, system user accepted); nil means always ready. Its error
	// text is shown to local callers of /readyz, so it must hold nothing secret.
	Ready func(ctx context.Context) error
	// Key describes the signing key for /readyz (which backend signs, whether the key can be copied
	// out of it); cmd/agent fills it from the key store. Zero means not reported.
	Key KeyInfo
	// Registry receives the metrics and, as a prometheus.Gatherer, is served on /metrics; nil means a
	// private registry.
	Registry prometheus.Registerer
	// FailureLimit failed authentications per client id or source within FailureWindow turn further
	// failures into 429 (D7); zero means DefaultFailureLimit and DefaultFailureWindow.
	FailureLimit  int
	FailureWindow time.Duration
	// Timeouts of the HTTP server; zero fields take the D8 defaults.
	Timeouts Timeouts
	// MaxConns bounds concurrent connections per listener; zero means DefaultMaxConns.
	MaxConns int
	// MaxIntrospect bounds the served tokens remembered for introspection; zero means
	// DefaultMaxIntrospect.
	MaxIntrospect int
	// SystemUserID returns the Altinn id of the configured system user with the given name, or "" while
	// none is known (request not accepted yet). Introspection reports it as systemuser_id. The caller
	// wires it to what onboarding saved; agent reads no files. nil means no id is reported.
	SystemUserID func(name string) string
	// LogLevel, if set, is the level of Logger's handler: Reload sets it from log.level.
	LogLevel *slog.LevelVar
	// KeyWarnings are how long before the signing key's expiry the agent warns (log once per threshold,
	// /readyz detail); nil means 30 and 7 days.
	KeyWarnings []time.Duration
	// WatchInterval is how often Run checks the key's expiry and probes each system user upstream
	// (a deleted system user shows as MP-303; DefaultWatchInterval is a good value); zero disables the
	// loop (token requests still report what they meet).
	WatchInterval time.Duration
}

// KeyInfo says which key store backend signs the grants, whether its key is exportable and where it
// lives; the fields are keystore.Description's, so cmd/agent converts one to the other. It holds nothing
// secret: /readyz shows it to local callers.
type KeyInfo struct {
	// Backend is the key store backend as configured, e.g. "tpm2".
	Backend string `json:"backend"`
	// Exportable is false when the private key cannot leave the device that holds it (a TPM).
	Exportable bool `json:"exportable"`
	// Where says where the key lives, e.g. "TPM 2.0 at /dev/tpmrm0".
	Where string `json:"where,omitempty"`
}

// keyInfo is o.Key, or nil when it is not set.
func (o Options) keyInfo() *KeyInfo {
	if o.Key == (KeyInfo{}) {
		return nil
	}
	k := o.Key
	return &k
}

// Server is the local API. Make one with New, then serve it with Run (one or more listeners).
type Server struct {
	cur        atomic.Pointer[view] // callers, system users, organisation: swapped whole by Reload
	suID       func(name string) string
	logLevel   *slog.LevelVar
	health     *healthState
	watchEvery time.Duration
	watching   atomic.Bool
	src        tokens.Source
	log        *slog.Logger
	now        func() time.Time
	realClock  bool         // now is clk.Now: a request's one reading of the clock serves as token time too
	clk        tokens.Clock // the real clock, read once per request (cheaper than time.Now)
	dates      dateCache    // the Date header of the current second
	ready      func(ctx context.Context) error
	key        *KeyInfo
	throttle   *throttle
	issued     *issuedStore
	metrics    *metrics
	gatherer   prometheus.Gatherer
	timeouts   Timeouts
	maxConns   int
	cfgAddr    net.Addr
}

// New validates o and builds a Server. Errors name the config field and say how to fix it.
func New(o Options) (*Server, error) {
	if o.Config == nil {
		return nil, errors.New("agent: no configuration given; load it with config.Load first")
	}
	if o.Tokens == nil {
		return nil, errors.New("agent: no token source given; build a tokens.Cache first")
	}
	cfg := o.Config
	v, err := buildView(cfg)
	if err != nil {
		return nil, err
	}
	ap, _ := config.LoopbackAddr(cfg.Listen) // checked by buildView
	s := &Server{
		suID:       o.SystemUserID,
		logLevel:   o.LogLevel,
		watchEvery: o.WatchInterval,
		src:        o.Tokens,
		log:        o.Logger,
		now:        o.Now,
		ready:      o.Ready,
		key:        o.keyInfo(),
		timeouts:   o.Timeouts.withDefaults(),
		maxConns:   o.MaxConns,
		cfgAddr:    net.TCPAddrFromAddrPort(ap),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now, s.realClock = s.clk.Now, true
	}
	s.cur.Store(v)
	s.health = newHealthState(o.KeyWarnings)
	if s.maxConns <= 0 {
		s.maxConns = DefaultMaxConns
	}
	limit, window := o.FailureLimit, o.FailureWindow
	if limit <= 0 {
		limit = DefaultFailureLimit
	}
	if window <= 0 {
		window = DefaultFailureWindow
	}
	s.throttle = newThrottle(limit, window)
	maxIntro := o.MaxIntrospect
	if maxIntro <= 0 {
		maxIntro = DefaultMaxIntrospect
	}
	s.issued = newIssuedStore(maxIntro)
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	g, ok := reg.(prometheus.Gatherer)
	if !ok {
		return nil, errors.New("agent: Options.Registry must also be a prometheus.Gatherer " +
			"(pass a *prometheus.Registry) so /metrics can serve it")
	}
	s.gatherer = g
	if s.metrics, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("agent: registering metrics: %w; pass a fresh registry", err)
	}
	if err := s.registerWatchMetrics(reg); err != nil {
		return nil, fmt.Errorf("agent: registering the watch metrics: %w; pass a fresh registry", err)
	}
	if cs, ok := o.Tokens.(cacheStatser); ok {
		if err := registerCacheMetrics(reg, cs); err != nil {
			return nil, fmt.Errorf("agent: registering the token cache metrics: %w; pass a fresh registry", err)
		}
	}
	return s, nil
}

// Handler is the API as an http.Handler with every defence, accepting the Host names of the configured
// listen address. Run builds its own for the port it actually listens on.
func (s *Server) Handler() http.Handler {
	hosts, _ := hostsFor(s.cfgAddr)
	return s.handlerFor(hosts)
}

// Run serves the API on ln until ctx ends, then shuts down gracefully: in-flight requests finish,
// bounded by Timeouts.Shutdown, after which the rest are cut. It refuses a listener whose address is
// not loopback TCP or a Unix socket (D1). Run closes ln. It returns nil after a shutdown asked for by
// ctx, else the error that stopped serving.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	hosts, err := hostsFor(ln.Addr())
	if err != nil {
		_ = ln.Close()
		return err
	}
	conns := newConnTable(s.maxConns)
	conns.writeTimeout = s.timeouts.Write // D8's write bound is armed per connection (connTable.track)
	srv := s.httpServer(s.handlerFor(hosts))
	srv.ConnState, srv.ConnContext = conns.track, connContext
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(newConnListener(ln, conns)) }()
	if d, ok := ln.(*dualListener); ok {
		s.log.Info("serving the local token endpoint", "addr", ln.Addr().String(), "also_holding", d.Other().String(),
			"note", "callers should use the literal address http://"+ln.Addr().String()+", not localhost")
	} else {
		s.log.Info("serving the local token endpoint", "addr", ln.Addr().String())
	}
	if s.watchEvery > 0 && s.watching.CompareAndSwap(false, true) {
		go s.watch(ctx, s.watchEvery)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("agent: serving on %s stopped: %w; restart the service", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeouts.Shutdown)
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	<-errc
	if err != nil {
		return fmt.Errorf("agent: requests still running %s after shutdown began were cut: %w",
			s.timeouts.Shutdown, err)
	}
	s.log.Info("stopped serving the local token endpoint", "addr", ln.Addr().String())
	return nil
}

// httpServer applies the D8 limits. The write bound (Timeouts.Write) is not net/http's WriteTimeout, which
// costs a reading of the wall clock and two timer changes per request: the connection table arms it when
// a request starts and keeps it armed across requests (connTable.track, trackedConn.armWrite).
func (s *Server) httpServer(h http.Handler) *http.Server {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.timeouts.ReadHeader,
		ReadTimeout:       s.timeouts.Read,
		IdleTimeout:       s.timeouts.Idle,
		MaxHeaderBytes:    maxHeaderBytes - 4096,
		Protocols:         p,
		// "OPTIONS *" must reach the guard (and get 405), not net/http's built-in 200.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// clock is token time for a reading t of the real clock: t itself, unless a clock was injected.
func (s *Server) clock(t time.Time) time.Time {
	if s.realClock {
		return t
	}
	return s.now()
}
