// Package doctor checks an installation of the agent and explains every problem with its fix: the
// config loads and validates; the key store opens and holds the key, and the service's account can get
// it; Maskinporten and Altinn answer, with this host's clock skew read from their Date header; the
// organisation's token works; the system and each system user request stand as they should (a pending
// request shows its confirm URL); the service is installed and running; the listen port is free or held
// by the agent itself; each local caller's secret file matches its digest and only its account can read
// it; no other account can change the config, its directory or the state directory. It only reads: it changes no
// file, no key and nothing upstream.
//
// doctor may import config, keystore, tokens, registry and installer. Only cmd/agent imports it; it
// never imports agent, setup or sandbox (tests excepted).
package doctor

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// Severity ranks a finding.
type Severity string

// Severities, from fine to broken. Any SevError makes Report.Failed true (`agent doctor` exits 1).
const (
	SevOK      Severity = "ok"
	SevInfo    Severity = "info"
	SevWarning Severity = "warning"
	SevError   Severity = "error"
)

// Checks, in the order Run makes them.
const (
	CheckConfig   = "config"
	CheckKey      = "key"
	CheckUpstream = "upstream"
	CheckClock    = "clock"
	CheckToken    = "token"
	CheckSystem   = "system"
	CheckRequest  = "request"
	CheckService  = "service"
	CheckPort     = "port"
	CheckCallers  = "callers"
)

// Finding is one thing doctor found. It never holds a secret.
type Finding struct {
	// Check names the area: config, key, upstream, clock, token, system, request, service, port, callers.
	Check string `json:"check"`
	// Severity is ok, info, warning or error.
	Severity Severity `json:"severity"`
	// Message says what was found.
	Message string `json:"message"`
	// Fix says what to do; empty for ok findings.
	Fix string `json:"fix,omitempty"`
	// Detail holds facts for scripts (URLs, skew, ids).
	Detail map[string]string `json:"detail,omitempty"`
}

// Report is every finding of one Run.
type Report struct {
	// Findings in check order.
	Findings []Finding `json:"findings"`
}

// Failed reports whether any finding is an error.
func (r Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Severity == SevError {
			return true
		}
	}
	return false
}

// Count returns how many findings have severity s.
func (r Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Options say what to check and give doctor the parts cmd/agent wires.
type Options struct {
	// ConfigPath is the config file.
	ConfigPath string
	// StateDir holds the state file.
	StateDir string
	// OpenKeyStore opens the key store the config names, as the CLI does. Nil skips the key checks.
	OpenKeyStore func(cfg *config.Config) (keystore.Store, error)
	// Tokens builds the organisation's token source from the key; nil skips the token and upstream
	// state checks.
	Tokens func(ctx context.Context, cfg *config.Config, ks keystore.Store) (tokens.Source, error)
	// HTTPClient makes the reachability probes and the Altinn calls; nil means tokens.NewHTTPClient.
	HTTPClient *http.Client
	// Service reports the OS service's state; nil skips the service check.
	Service func() (installer.Status, error)
	// ServiceAccount names the account the service runs as, for messages.
	ServiceAccount string
	// GOOS is the operating system the checks judge for; "" means runtime.GOOS.
	GOOS string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is the largest clock skew accepted; 0 means 10s (Maskinporten's tolerance).
	MaxSkew time.Duration
	// Timeout bounds each upstream probe; 0 means 10s.
	Timeout time.Duration
	// Command is the name the user runs the agent by (the base name of the program as started, e.g.
	// systemuser-agent from the package, agent.exe on Windows); the commands in messages and fixes
	// name it. "" means agent.
	Command string
}

// run is one Run's working state.
type run struct {
	o        Options
	findings []Finding
	cfg      *config.Config
	ks       keystore.Store
	keyOK    bool
	src      tokens.Source    // the organisation's token source, once a token worked
	sys      *registry.System // the system as Altinn holds it, once read
}

func (r *run) add(f Finding) { r.findings = append(r.findings, f) }

func (r *run) now() time.Time {
	if r.o.Now != nil {
		return r.o.Now()
	}
	return time.Now()
}

// Run makes every check and returns the findings. Checks that need an earlier one (the key needs the
// config, Altinn's state needs a token) are reported as skipped (info) when it failed.
func Run(ctx context.Context, o Options) Report {
	if o.MaxSkew <= 0 {
		o.MaxSkew = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = tokens.NewHTTPClient(tokens.HTTPOptions{})
	}
	r := &run{o: o}
	r.checkConfig()
	r.checkPerms()
	if r.cfg != nil {
		r.checkKey(ctx)
		r.checkAdmin(ctx)
		r.checkUpstream(ctx)
		r.checkToken(ctx)
		r.checkState(ctx)
	}
	r.checkService()
	if r.cfg != nil {
		r.checkPort(ctx)
		r.checkOtherFamily(ctx)
		r.checkCallers()
	}
	if c := o.Command; c != "" && c != "agent" {
		for i := range r.findings {
			f := &r.findings[i]
			f.Message, f.Fix = strings.ReplaceAll(f.Message, "`agent ", "`"+c+" "), strings.ReplaceAll(f.Fix, "`agent ", "`"+c+" ")
		}
	}
	return Report{Findings: r.findings}
}
