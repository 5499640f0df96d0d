package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
)

// ErrNoRequest is matched (errors.Is) when Status finds neither a system user nor a request.
var ErrNoRequest = errors.New("setup: no system user request")

// Status asks Altinn about the named system users (empty: all): the system user if it exists, else the
// saved request, else the request by externalRef. It saves what it learns and creates or deletes
// nothing. It returns a *RequestEndedError if a request ended unapproved, else a *WaitingError while a
// request is New, else an ErrNoRequest error naming `agent request create` when one has no request.
func (s *Setup) Status(ctx context.Context, names []string) (*config.State, error) {
	users, err := s.selected(names)
	if err != nil {
		return nil, err
	}
	st, err := config.LoadState(s.StateDir)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	cfg, reg := s.Config, s.Registry
	var pending []Pending
	var ended error
	var missing []string
	for _, su := range users {
		us := userState(st, su)
		u, err := reg.SystemUserByQuery(ctx, cfg.System.ID, cfg.Organization, su.ExternalRef)
		if err == nil {
			if err := s.recordAccepted(st, su.Name, us, u); err != nil {
				return st, s.fail(StepRequest, su.Name, err)
			}
			s.emit(Event{Step: StepRequest, Status: StatusDone, SystemUser: su.Name, RequestID: us.RequestID,
				Message: "approved: the system user exists", Detail: map[string]string{"system_user_id": u.ID}})
			p, err := s.changeStatus(ctx, st, su)
			if err != nil {
				return st, s.fail(StepChange, su.Name, err)
			}
			if p != nil {
				pending = append(pending, *p)
			}
			continue
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return st, s.fail(StepRequest, su.Name, err)
		}
		r, err := s.findRequest(ctx, us, su)
		if err != nil {
			return st, s.fail(StepRequest, su.Name, err)
		}
		if r == nil {
			if err := s.record(st, su.Name, config.SystemUserState{ExternalRef: su.ExternalRef}, nil); err != nil {
				return st, s.fail(StepRequest, su.Name, err)
			}
			s.emit(Event{Step: StepRequest, Status: StatusSkipped, SystemUser: su.Name, Message: "no request: run `agent request create`"})
			missing = append(missing, su.Name)
			continue
		}
		if err := s.record(st, su.Name, us, r); err != nil {
			return st, s.fail(StepRequest, su.Name, err)
		}
		ev := Event{Step: StepRequest, Status: StatusDone, SystemUser: su.Name, RequestID: r.ID, ConfirmURL: r.ConfirmURL,
			Message: "request " + r.Status, Detail: map[string]string{"status": r.Status}}
		switch {
		case r.Waiting():
			ev.Status = StatusWaiting
			pending = append(pending, Pending{SystemUser: su.Name, RequestID: r.ID, ConfirmURL: r.ConfirmURL})
		case !accepted(r):
			ev.Status = StatusFailed
			e := &RequestEndedError{SystemUser: su.Name, RequestID: r.ID, Status: r.Status, TimedOut: r.TimedOut}
			ev.Message = e.Error()
			if ended == nil {
				ended = e
			}
		}
		s.emit(ev)
	}
	switch {
	case ended != nil:
		return st, ended
	case len(pending) > 0:
		return st, &WaitingError{Pending: pending}
	case len(missing) > 0:
		return st, fmt.Errorf("%w for system user(s) %s: run `agent request create`", ErrNoRequest, strings.Join(missing, ", "))
	}
	return st, nil
}

// changeStatus reports an existing system user's rights: a change request waiting (returned as
// Pending), drift the config asks to fix (`agent setup` sends the change request), or none. It sends
// nothing; it records what it learns about the change request in the state.
func (s *Setup) changeStatus(ctx context.Context, st *config.State, su config.SystemUser) (*Pending, error) {
	us := st.SystemUsers[su.Name]
	reg, sysID := s.Registry, s.Config.System.ID
	if c := us.Change; c != nil && c.Status != "" && !(&registry.ChangeRequest{Status: c.Status}).Final() {
		cr, err := reg.GetChangeRequest(ctx, c.ID)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			us.Change = nil
		case err != nil:
			return nil, err
		default:
			c.Status, c.ConfirmURL, c.Updated = cr.Status, cr.ConfirmURL, s.now()
		}
		if err := s.recordUser(st, su.Name, us); err != nil {
			return nil, err
		}
	}
	held, err := reg.HeldBy(ctx, sysID, us.SystemUserID)
	if err != nil {
		return nil, err
	}
	sys, err := reg.GetSystem(ctx, sysID)
	if err != nil {
		return nil, err
	}
	ch, err := registry.PlanChange(sys, WantedOf(s.Config.Wants(su)), *held)
	if err != nil {
		return nil, err
	}
	if ch.Empty() {
		us.Approved = grantOf(held.Rights, held.AccessPackages)
		if err := s.recordUser(st, su.Name, us); err != nil {
			return nil, err
		}
		s.emit(Event{Step: StepChange, Status: StatusDone, SystemUser: su.Name, Message: "the system user holds what the config asks (no drift)"})
		return nil, nil
	}
	if p := held.PendingFor(ch); p != nil {
		if us.Change == nil || us.Change.ID != p.ID || us.Change.Status != p.Status || us.Change.ConfirmURL != p.ConfirmURL {
			add, remove := changeGrants(ch) // a change request found in Altinn (made by another run or server): recorded
			us.Change = &config.ChangeState{ID: p.ID, Status: p.Status, ConfirmURL: p.ConfirmURL, Add: add, Remove: remove,
				Created: changeCreated(us.Change, p.ID, s.now()), Updated: s.now()}
			if err := s.recordUser(st, su.Name, us); err != nil {
				return nil, err
			}
		}
		s.emit(Event{Step: StepChange, Status: StatusWaiting, SystemUser: su.Name, RequestID: p.ID, ConfirmURL: p.ConfirmURL,
			Message: "change request " + p.Status + " (" + ch.String() + "): an administrator approves it at the confirm URL",
			Detail:  map[string]string{"kind": "change", "status": p.Status, "change": ch.String()}})
		return &Pending{SystemUser: su.Name, RequestID: p.ID, ConfirmURL: p.ConfirmURL, Change: true}, nil
	}
	s.emit(Event{Step: StepChange, Status: StatusSkipped, SystemUser: su.Name,
		Message: "drift: the system user does not hold what the config asks (" + ch.String() + "): run `agent setup` to send a change request",
		Detail:  map[string]string{"kind": "change", "drift": ch.String()}})
	return nil, nil
}

// findRequest reads the saved request, or the live request by externalRef; nil if there is none.
func (s *Setup) findRequest(ctx context.Context, us config.SystemUserState, su config.SystemUser) (*registry.Request, error) {
	if us.RequestID != "" {
		r, err := s.Registry.GetRequest(ctx, us.RequestID)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return nil, err
		}
	}
	r, err := s.Registry.GetRequestByExternalRef(ctx, s.Config.System.ID, s.Config.Organization, su.ExternalRef)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	return r, err
}

// DescribeUser says in one line where a system user's request stands and what to run next.
func DescribeUser(us config.SystemUserState) string {
	switch {
	case us.Status == "":
		return "no request yet (run `agent request create`)"
	case us.TimedOut:
		return "request " + us.RequestID + " timed out (run with --new-request)"
	case us.Accepted() && us.Change != nil && strings.EqualFold(us.Change.Status, "New"):
		return "approved, system user id " + us.SystemUserID + "; change request " + us.Change.ID + " (" +
			changeDetail(us.Change)["change"] + ") waits for approval at " + us.Change.ConfirmURL
	case us.Accepted():
		return "approved, system user id " + us.SystemUserID
	case strings.EqualFold(us.Status, "New"):
		return "request " + us.RequestID + " waits for approval at " + us.ConfirmURL
	}
	return "request " + us.RequestID + " is " + us.Status + " (run with --new-request)"
}

// StatusReport is the final document of `agent request`: whether something waits for approval, the
// error, the saved state of the system users the command was about, and the requests and change
// requests waiting for an administrator.
type StatusReport struct {
	Waiting     bool                              `json:"waiting"`
	Error       string                            `json:"error,omitempty"`
	SystemUsers map[string]config.SystemUserState `json:"system_users"`
	Pending     []Pending                         `json:"pending,omitempty"`
	order       []string
}

// NewStatusReport reports the named system users of cfg (empty: all) in st after a run that ended with
// runErr (nil, a *WaitingError, ...).
func NewStatusReport(cfg *config.Config, names []string, st *config.State, runErr error) StatusReport {
	r := StatusReport{Waiting: errors.Is(runErr, ErrWaiting)}
	r.SystemUsers, r.order = States(cfg, names, st)
	if runErr != nil {
		r.Error = runErr.Error()
	}
	var we *WaitingError
	if errors.As(runErr, &we) {
		r.Pending = we.Pending
	}
	return r
}

// WriteText writes one line per system user: where its request, and its change request if one waits,
// stand (DescribeUser).
func (r StatusReport) WriteText(w io.Writer) error {
	for _, name := range r.order {
		if _, err := fmt.Fprintf(w, "system user %s: %s\n", name, DescribeUser(r.SystemUsers[name])); err != nil {
			return err
		}
	}
	return nil
}

// States returns the saved state of the named system users of cfg (empty: all) that have one, and their
// names in config order.
func States(cfg *config.Config, names []string, st *config.State) (map[string]config.SystemUserState, []string) {
	sel := map[string]config.SystemUserState{}
	var order []string
	for _, su := range cfg.SystemUsers {
		if len(names) > 0 && !slices.Contains(names, su.Name) {
			continue
		}
		if us, ok := st.SystemUsers[su.Name]; ok {
			sel[su.Name] = us
			order = append(order, su.Name)
		}
	}
	return sel, order
}
