// Package setup onboards the organisation as idempotent, resumable steps: the key is readable → the
// organisation's system is in Altinn's System Register → each configured system user exists or has a
// request → the requests are approved → a first system-user token works. Altinn is asked first at every
// step, and the state file is saved after every upstream call, so a setup killed at any point resumes
// where it stopped without creating anything twice. It reports progress as Events and never prints.
//
// setup is also the library that acts for the commands, which only ask and print: Actions writes the
// config, the callers' secret files and the OS service (`agent setup`); AddCaller, RotateCaller and
// RemoveCaller change callers (`agent clients`); ReadKey (the one key-import and password-file rule),
// EnsureKey and ImportKey put keys in the key store; OpenKeyStore and TokenSource wire a config to its key
// and tokens; the answers' checks live in answers.go.
//
// setup is used by cmd/agent (the wizard, `agent system`, `agent request`, `agent clients`, `agent keys`,
// `agent demo`); no other package may import it (repo_test.go holds that).
package setup

import (
	"context"
	"crypto"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// Steps, in order.
const (
	StepKey      = "key"
	StepSystem   = "system"
	StepRequest  = "request"
	StepApproval = "approval"
	StepToken    = "token"
)

// Event statuses.
const (
	StatusStart   = "start"
	StatusDone    = "done"
	StatusSkipped = "skipped"
	StatusWaiting = "waiting"
	StatusFailed  = "failed"
)

// Event is one piece of progress. It never holds a secret.
type Event struct {
	// Step is key, system, request, approval or token.
	Step string `json:"step"`
	// Status is start, done, skipped, waiting or failed.
	Status string `json:"status"`
	// SystemUser is the config name of the system user the event is about, if any.
	SystemUser string `json:"system_user,omitempty"`
	// Message is one line for people.
	Message string `json:"message,omitempty"`
	// ConfirmURL is where an administrator approves the request (request and approval steps).
	ConfirmURL string `json:"confirm_url,omitempty"`
	// RequestID is Altinn's request id.
	RequestID string `json:"request_id,omitempty"`
	// Detail holds step-specific facts (e.g. outcome, status, system_user_id, expires).
	Detail map[string]string `json:"detail,omitempty"`
}

// Who is the step, followed by the system user when the event is about one.
func (e Event) Who() string {
	if e.SystemUser != "" {
		return e.Step + " " + e.SystemUser
	}
	return e.Step
}

// Setup runs the onboarding for one configuration. Set the fields, then call Run (not concurrently for
// the same StateDir).
type Setup struct {
	// Config is the validated configuration.
	Config *config.Config
	// StateDir holds the state file (config.LoadState/SaveState).
	StateDir string
	// ReadOnly keeps what the steps learn in memory only: no state file is written (agent request
	// status is a read).
	ReadOnly bool
	// Registry talks to Altinn as the organisation.
	Registry *registry.Client
	// Tokens gets system-user tokens for the token step; nil skips that step.
	Tokens tokens.Source
	// Signer returns the Maskinporten key; the key step checks that it is readable. Nil skips that step.
	Signer func(ctx context.Context) (crypto.Signer, error)
	// Events receives progress on the caller's goroutine; nil discards.
	Events func(Event)
	// Now is the clock for state timestamps; nil means time.Now.
	Now func() time.Time
}

// Options tune Run.
type Options struct {
	// Wait polls until every request is answered; without it Run returns a *WaitingError (ErrWaiting)
	// while a request is New.
	Wait bool
	// NewRequest deletes a rejected, denied or timed-out request and sends a new one. Without it such a
	// request ends Run with a *RequestEndedError.
	NewRequest bool
	// WaitOptions tune the polling (the Progress callback is set by Run).
	WaitOptions registry.WaitOptions
	// SystemUsers limits the run to these config names; empty means all.
	SystemUsers []string
}

// Run runs every step and returns the saved state. It is safe to run again at any time: done steps are
// found done upstream and skipped.
func (s *Setup) Run(ctx context.Context, o Options) (*config.State, error) {
	users, err := s.selected(o.SystemUsers)
	if err != nil {
		return nil, err
	}
	st, err := config.LoadState(s.StateDir)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	if err := s.keyStep(ctx); err != nil {
		return st, err
	}
	if _, err := s.systemStep(ctx, st); err != nil {
		return st, err
	}
	for _, su := range users {
		if err := s.requestStep(ctx, st, su, o.NewRequest); err != nil {
			return st, err
		}
	}
	if err := s.approvalStep(ctx, st, users, o); err != nil {
		return st, err
	}
	for _, su := range users {
		if err := s.changeStep(ctx, st, su); err != nil {
			return st, err
		}
	}
	if err := s.changeApprovalStep(ctx, st, users, o); err != nil {
		return st, err
	}
	return st, s.tokenStep(ctx, st, users)
}

// RegisterSystem runs the key and system steps only (`agent system register`).
func (s *Setup) RegisterSystem(ctx context.Context) (*config.State, registry.EnsureResult, error) {
	st, err := config.LoadState(s.StateDir)
	if err != nil {
		return nil, registry.EnsureResult{}, fmt.Errorf("setup: %w", err)
	}
	if err := s.keyStep(ctx); err != nil {
		return st, registry.EnsureResult{}, err
	}
	res, err := s.systemStep(ctx, st)
	return st, res, err
}

func (s *Setup) emit(e Event) {
	if s.Events != nil {
		s.Events(e)
	}
}

func (s *Setup) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Setup) save(st *config.State) error {
	if s.ReadOnly {
		return nil
	}
	if err := config.SaveState(s.StateDir, st); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	return nil
}

// fail emits a failed event for step and returns err wrapped with the step.
func (s *Setup) fail(step, user string, err error) error {
	s.emit(Event{Step: step, Status: StatusFailed, SystemUser: user, Message: err.Error()})
	return fmt.Errorf("setup: %s step: %w", step, err)
}

// selected returns the configured system users named, or all of them.
func (s *Setup) selected(names []string) ([]config.SystemUser, error) {
	if s.Config == nil || s.Registry == nil {
		return nil, fmt.Errorf("setup: Config and Registry are required (a bug in the caller)")
	}
	if len(names) == 0 {
		return s.Config.SystemUsers, nil
	}
	var out []config.SystemUser
	for _, n := range names {
		su, ok := s.Config.SystemUser(n)
		if !ok {
			var all []string
			for _, c := range s.Config.SystemUsers {
				all = append(all, c.Name)
			}
			return nil, fmt.Errorf("setup: no system user named %q in the config; configured: %s", n, strings.Join(all, ", "))
		}
		out = append(out, su)
	}
	return out, nil
}

func (s *Setup) keyStep(ctx context.Context) error {
	if s.Signer == nil {
		s.emit(Event{Step: StepKey, Status: StatusSkipped, Message: "no key check configured"})
		return nil
	}
	s.emit(Event{Step: StepKey, Status: StatusStart})
	signer, err := s.Signer(ctx)
	if err != nil {
		return s.fail(StepKey, "", fmt.Errorf("read the Maskinporten key: %w", err))
	}
	detail := map[string]string{"kid": s.Config.Maskinporten.KID}
	if detail["kid"] == "" {
		if tp, err := keystore.Thumbprint(signer.Public()); err == nil {
			detail["kid"] = tp
		}
	}
	s.emit(Event{Step: StepKey, Status: StatusDone, Message: "the Maskinporten key is readable", Detail: detail})
	return nil
}

func (s *Setup) systemStep(ctx context.Context, st *config.State) (registry.EnsureResult, error) {
	cfg := s.Config
	s.emit(Event{Step: StepSystem, Status: StatusStart, Message: "system " + cfg.System.ID})
	res, err := s.Registry.EnsureSystem(ctx, systemOf(cfg))
	if err != nil {
		return res, s.fail(StepSystem, "", err)
	}
	now := s.now()
	if st.System.ID != cfg.System.ID {
		// Requests and system users belong to a system: those of another system id are not ours any more.
		st.System = config.SystemState{ID: cfg.System.ID}
		st.SystemUsers = map[string]config.SystemUserState{}
	}
	st.System.ClientID = cfg.Maskinporten.ClientID
	if res.InternalID != "" {
		st.System.InternalID = res.InternalID
	}
	if res.Outcome == registry.Created {
		st.System.Registered = now
	}
	if res.Outcome != registry.Unchanged || st.System.Updated.IsZero() {
		st.System.Updated = now
	}
	if err := s.save(st); err != nil {
		return res, s.fail(StepSystem, "", err)
	}
	detail := map[string]string{"outcome": string(res.Outcome), "system_id": cfg.System.ID}
	if len(res.Changed) > 0 {
		detail["changed"] = strings.Join(res.Changed, ",")
	}
	s.emit(Event{Step: StepSystem, Status: StatusDone, Message: "system " + cfg.System.ID + " " + string(res.Outcome), Detail: detail})
	return res, nil
}

// systemOf is the configured system as the registry writes it.
func systemOf(cfg *config.Config) registry.System {
	return registry.System{
		ID: cfg.System.ID, VendorOrg: cfg.Organization,
		Name: textsOf(cfg.System.Name), Description: textsOf(cfg.System.Description),
		Rights: rightsOf(cfg.System.Rights), AccessPackages: slices.Clone(cfg.System.AccessPackages),
		ClientIDs: []string{cfg.Maskinporten.ClientID},
	}
}

func textsOf(t config.Texts) registry.Texts {
	out := registry.Texts{}
	for k, v := range map[string]string{"nb": t.NB, "nn": t.NN, "en": t.EN} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func rightsOf(rs []config.Right) []registry.Right {
	out := make([]registry.Right, 0, len(rs))
	for _, r := range rs {
		out = append(out, registry.ResourceRight(r.Resource, r.Action))
	}
	return out
}
