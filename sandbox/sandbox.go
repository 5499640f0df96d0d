// Package sandbox is an in-process stand-in for Maskinporten and Altinn, faithful to the contracts in
// shared/design (maskinporten.md §7, altinn-api.md §9): a Maskinporten token endpoint that enforces every
// grant rule, JWKS and metadata; Altinn's System Register, system user requests, vendor lookups, the token
// exchange and an approval page at the confirm URL; plus fault injection, counters and admin actions
// (Approve, Reject, ...) for tests and the demo.
//
// One Sandbox serves both upstreams from one base URL:
//
//	{base}/maskinporten/                  issuer (grant aud), /token, /jwk, /.well-known/oauth-authorization-server
//	{base}/altinn                         Altinn platform base ({base}/altinn/authentication/api/v1/...)
//	{base}/am/accessmanagement/ui/...     approval page (confirm URL)
//
// The sandbox is test and demo code: the agent, tokens and registry packages never import it outside tests.
package sandbox

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configure a Sandbox. The zero value is ready to use.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TokenLifetime is the lifetime of issued Maskinporten tokens (expires_in); default 120s.
	TokenLifetime time.Duration
	// ExchangeLifetime is the lifetime of exchanged Altinn tokens; default 30m.
	ExchangeLifetime time.Duration
	// RequestTimeout is the age after which a New request gets timedOut:true; default 180 days.
	RequestTimeout time.Duration
	// PageSize is the page size of paged Altinn lists; default 50.
	PageSize int
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// DrillAPI also serves the drill API under /sandbox/ (drill.go): counters and fault injection for
	// load scripts, to loopback callers only.
	DrillAPI bool
	// OnRegister, if set, hears of each client registered through the registration API
	// (registration.go) or RegisterClientKey, one call at a time; `agent sandbox` prints them.
	OnRegister func(ClientRegistration)
}

// Sandbox is the fake Maskinporten and Altinn. Create it with New. Safe for concurrent use.
type Sandbox struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	notifyMu sync.Mutex // serialises Options.OnRegister calls
	baseURL  string     // set by Start or SetBaseURL
	srv      *http.Server
	ln       net.Listener

	mp     *maskinporten // Maskinporten state (clients, keys, used jtis, signing keys)
	altinn *altinn       // Altinn state (orgs, systems, requests, system users)
	faults *faultSet
	stats  *counters
}

// New returns a sandbox with no listener; call Start, or serve Handler yourself and call SetBaseURL.
func New(opts Options) *Sandbox {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 120 * time.Second
	}
	if opts.ExchangeLifetime <= 0 {
		opts.ExchangeLifetime = 30 * time.Minute
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 180 * 24 * time.Hour
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 50
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{opts: opts, log: log, faults: &faultSet{}, stats: newCounters()}
	s.mp = newMaskinporten(s)
	s.altinn = newAltinn(s)
	return s
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func (s *Sandbox) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.baseURL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	srv := s.srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Close stops the listener started by Start.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// SetBaseURL tells the sandbox its own base URL when Handler is served by someone else.
func (s *Sandbox) SetBaseURL(u string) {
	s.mu.Lock()
	s.baseURL = u
	s.mu.Unlock()
}

// URL is the base URL, e.g. http://127.0.0.1:41234.
func (s *Sandbox) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// MaskinportenIssuer is the issuer and the grant's aud, with the trailing slash.
func (s *Sandbox) MaskinportenIssuer() string { return s.URL() + "/maskinporten/" }

// MaskinportenTokenURL is the token endpoint.
func (s *Sandbox) MaskinportenTokenURL() string { return s.URL() + "/maskinporten/token" }

// AltinnURL is the Altinn platform base URL.
func (s *Sandbox) AltinnURL() string { return s.URL() + "/altinn" }

// Handler serves both upstreams, the registration API (registration.go), and the drill API with
// Options.DrillAPI.
func (s *Sandbox) Handler() http.Handler {
	mux := http.NewServeMux()
	s.mp.routes(mux)
	s.altinn.routes(mux)
	outer := http.NewServeMux()
	outer.Handle("/", s.withFaults(mux))
	reg := registrationAPI(s)
	outer.Handle("/sandbox/catalogue", reg)
	outer.Handle("/sandbox/clients", reg)
	if s.opts.DrillAPI {
		outer.Handle("/sandbox/", drillAPI(s))
	}
	return outer
}

// now is the sandbox clock: Options.Now plus any SetClockOffset.
func (s *Sandbox) now() time.Time { return s.opts.Now().Add(s.faults.clockOffset()) }

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
