package setup

import (
	"context"
	"errors"
	"fmt"
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
			if err := s.accepted(st, su.Name, us, u); err != nil {
				return st, s.fail(StepRequest, su.Name, err)
			}
			s.emit(Event{Step: StepRequest, Status: StatusDone, SystemUser: su.Name, RequestID: us.RequestID,
				Message: "approved: the system user exists", Detail: map[string]string{"system_user_id": u.ID}})
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
		case !r.Is(registry.StatusAccepted) || r.TimedOut:
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
	case us.Accepted():
		return "approved, system user id " + us.SystemUserID
	case strings.EqualFold(us.Status, "New"):
		return "request " + us.RequestID + " waits for approval at " + us.ConfirmURL
	}
	return "request " + us.RequestID + " is " + us.Status + " (run with --new-request)"
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
