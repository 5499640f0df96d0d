package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// What the service watches while it runs, reported on /readyz, in the log once per change (not per
// request) and as metrics:
//   - the signing key's expiry (recorded at upload: Maskinporten keys live at most a year, then grants
//     fail MP-121): warnings at 30 and 7 days, not ready once expired;
//   - each system user upstream: MP-303 means Maskinporten finds no system user (deleted in Altinn, or the
//     system changed by someone else, e.g. this client id removed from it): not ready until it works again.

// DefaultKeyWarnings are the default warning thresholds before the key's expiry.
var DefaultKeyWarnings = []time.Duration{30 * 24 * time.Hour, 7 * 24 * time.Hour}

// DefaultWatchInterval is how often the service should check the key and probe the system users.
const DefaultWatchInterval = 5 * time.Minute

// fixNewRequest is the fix for a system user Maskinporten no longer finds.
const fixNewRequest = "run \"agent doctor\" to see the cause, then \"agent setup --new-request\" (a deleted system user " +
	"needs a new request and approval; a system changed by someone else is put back by \"agent setup\")"

// healthState is what the watchers found. All behind mu; problems is mirrored in anyProblem so the
// token hot path skips the lock when all is well.
type healthState struct {
	mu         sync.Mutex
	thresholds []time.Duration // descending
	kid        string
	expiry     time.Time // zero: not recorded
	warned     time.Duration
	problems   map[string]string // system user name → reason
	keyProblem string            // MP-121 seen from Maskinporten
	anyProblem atomic.Bool
}

func newHealthState(thresholds []time.Duration) *healthState {
	if thresholds == nil {
		thresholds = DefaultKeyWarnings
	}
	th := slices.Clone(thresholds)
	sort.Slice(th, func(i, j int) bool { return th[i] > th[j] })
	return &healthState{thresholds: th, problems: map[string]string{}, warned: math.MaxInt64}
}

// SetKeyExpiry records when the signing key kid expires (from the state file: the upload date plus a
// year, or the exp the self-service API returned). A zero time means unknown. It checks at once, so a
// warning due is logged now.
func (s *Server) SetKeyExpiry(kid string, expiry time.Time) {
	h := s.health
	h.mu.Lock()
	if kid != h.kid || !expiry.Equal(h.expiry) {
		h.kid, h.expiry, h.warned, h.keyProblem = kid, expiry, math.MaxInt64, ""
	}
	h.mu.Unlock()
	s.checkKey()
}

// checkKey logs a warning the first time the key's remaining life falls below each threshold (only the
// smallest one passed, once) and an error once it has expired.
func (s *Server) checkKey() {
	h := s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.expiry.IsZero() {
		return
	}
	left := h.expiry.Sub(s.now())
	if left <= 0 {
		if h.warned > 0 {
			h.warned = 0
			s.log.Error("the Maskinporten signing key has expired: grants fail with MP-121", "kid", h.kid,
				"expired", h.expiry.UTC().Format(time.RFC3339),
				"fix", "run \"agent keys rotate\", \"agent keys upload\" and \"agent keys activate\" now")
		}
		return
	}
	passed := time.Duration(0)
	for _, th := range h.thresholds {
		if left <= th {
			passed = th
		}
	}
	if passed > 0 && passed < h.warned {
		h.warned = passed
		s.log.Warn("the Maskinporten signing key expires soon", "kid", h.kid, "days_left", int(left.Hours()/24),
			"expires", h.expiry.UTC().Format(time.RFC3339),
			"fix", "rotate it: \"agent keys rotate\", \"agent keys upload\" (or upload the printed JWKS), \"agent keys activate\"")
	}
}

// keyReport is the key's state for /readyz: a problem (not ready) or a warning.
func (s *Server) keyReport() (problem, warning string) {
	h := s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keyProblem != "" {
		return h.keyProblem, ""
	}
	if h.expiry.IsZero() {
		return "", ""
	}
	left := h.expiry.Sub(s.now())
	switch {
	case left <= 0:
		return fmt.Sprintf("the Maskinporten signing key %s expired %s (grants fail with MP-121): rotate and upload a new key",
			h.kid, h.expiry.UTC().Format(time.RFC3339)), ""
	case len(h.thresholds) > 0 && left <= h.thresholds[0]:
		return "", fmt.Sprintf("the Maskinporten signing key %s expires in %d days (%s): rotate it",
			h.kid, int(left.Hours()/24), h.expiry.UTC().Format(time.RFC3339))
	}
	return "", ""
}

// noteUpstream records the outcome of a token fetch for system user su: MP-303 marks it broken (logged
// once), MP-121 marks the key expired, a success clears it (logged once). Other errors say nothing about
// the system user and are ignored here.
func (s *Server) noteUpstream(su string, err error) {
	h := s.health
	if err == nil {
		if !h.anyProblem.Load() {
			return
		}
		h.mu.Lock()
		if _, ok := h.problems[su]; ok {
			delete(h.problems, su)
			s.log.Info("the system user works again", "system_user", su)
		}
		h.anyProblem.Store(len(h.problems) > 0 || h.keyProblem != "")
		h.mu.Unlock()
		return
	}
	var te *tokens.Error
	if !errors.As(err, &te) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch te.MPCode {
	case "MP-303":
		if _, ok := h.problems[su]; !ok {
			reason := fmt.Sprintf("system user %q: Maskinporten finds no matching system user (MP-303): it was deleted in "+
				"Altinn, or the system was changed by someone else (this client id removed, or the system deleted); fix: %s",
				su, fixNewRequest)
			h.problems[su] = reason
			s.log.Error("a system user stopped working", "system_user", su, "code", "MP-303", "fix", fixNewRequest)
		}
	case "MP-121":
		if h.keyProblem == "" {
			h.keyProblem = "Maskinporten says the signing key has expired (MP-121): rotate it (\"agent keys rotate\", " +
				"\"agent keys upload\", \"agent keys activate\")"
			s.log.Error("the Maskinporten signing key has expired", "code", "MP-121", "fix", "agent keys rotate, upload, activate")
		}
	default:
		return
	}
	h.anyProblem.Store(true)
}

// upstreamProblems lists the recorded problems, sorted.
func (s *Server) upstreamProblems() []string {
	h := s.health
	if !h.anyProblem.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.problems {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Watch runs the checks once: the key's expiry, and a token fetch per system user through the token
// source (cached, so usually no upstream call) to notice a system user deleted upstream. Run calls it
// every Options.WatchInterval; tests call it with their clock.
func (s *Server) Watch(ctx context.Context) {
	s.checkKey()
	v := s.view()
	names := make([]string, 0, len(v.systemUsers))
	for n := range v.systemUsers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		su := v.systemUsers[name]
		scopes := slices.Clone(su.Scopes)
		if len(scopes) == 0 {
			for _, c := range v.callers.list {
				if slices.Contains(c.systemUsers, name) {
					scopes = append(scopes, c.scopes...)
				}
			}
		}
		if len(scopes) == 0 {
			continue
		}
		_, err := s.src.Token(ctx, tokens.Request{Scopes: scopes, Org: v.org, ExternalRef: su.ExternalRef})
		s.noteUpstream(name, err)
	}
}

// watch calls Watch every interval until ctx ends, the first time one interval after the start (the
// key's expiry is checked at once by SetKeyExpiry; token requests report upstream problems meanwhile).
func (s *Server) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.Watch(ctx)
	}
}

// registerWatchMetrics adds the key expiry gauge: seconds until the signing key expires (negative once
// expired; absent while unknown).
func (s *Server) registerWatchMetrics(reg prometheus.Registerer) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "systemuser_agent_signing_key_expiry_seconds",
		Help: "Seconds until the Maskinporten signing key expires (recorded at upload); NaN when unknown.",
	}, func() float64 {
		h := s.health
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.expiry.IsZero() {
			return math.NaN()
		}
		return h.expiry.Sub(s.now()).Seconds()
	})
	problems := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "systemuser_agent_system_users_failing",
		Help: "System users Maskinporten does not find (MP-303): deleted in Altinn or the system changed.",
	}, func() float64 { return float64(len(s.upstreamProblems())) })
	for _, c := range []prometheus.Collector{g, problems} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// readiness is the /readyz verdict: problems make it not ready; warnings are shown either way.
func (s *Server) readiness() (problems, warnings []string) {
	problems = s.upstreamProblems()
	kp, kw := s.keyReport()
	if kp != "" {
		problems = append(problems, kp)
	}
	if kw != "" {
		warnings = append(warnings, kw)
	}
	return problems, warnings
}

// joinReasons joins reasons for one line.
func joinReasons(rs []string) string { return strings.Join(rs, "; ") }
