package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// userState returns the state of su, reset when it was for another externalRef.
func userState(st *config.State, su config.SystemUser) config.SystemUserState {
	us, ok := st.SystemUsers[su.Name]
	if !ok || us.ExternalRef != su.ExternalRef {
		return config.SystemUserState{ExternalRef: su.ExternalRef}
	}
	return us
}

// record stores what Altinn said about su's request and saves the state.
func (s *Setup) record(st *config.State, name string, us config.SystemUserState, r *registry.Request) error {
	if r != nil {
		if r.ID != us.RequestID {
			us.SystemUserID = "" // another request: a system user id of the old one is no longer ours
		}
		us.RequestID, us.Status, us.TimedOut, us.ConfirmURL = r.ID, r.Status, r.TimedOut, r.ConfirmURL
		if us.Accepted() && us.SystemUserID == "" {
			us.SystemUserID = r.ID // Altinn gives the system user the request's id
		}
	}
	us.Updated = s.now()
	st.SystemUsers[name] = us
	return s.save(st)
}

// accepted reports whether Altinn's request r is accepted, by the one rule (config.SystemUserState.Accepted).
func accepted(r *registry.Request) bool {
	return config.SystemUserState{Status: r.Status, TimedOut: r.TimedOut}.Accepted()
}

// recordAccepted records an existing system user.
func (s *Setup) recordAccepted(st *config.State, name string, us config.SystemUserState, u *registry.SystemUser) error {
	us.Status, us.TimedOut, us.SystemUserID = registry.StatusAccepted, false, u.ID
	return s.record(st, name, us, nil)
}

// requestStep makes sure su has a system user or a live request: system user first, then an existing
// request, and only then a new one. A request that ended unapproved is replaced only with newRequest.
func (s *Setup) requestStep(ctx context.Context, st *config.State, su config.SystemUser, newRequest bool) error {
	cfg, reg := s.Config, s.Registry
	sysID, org := cfg.System.ID, cfg.Organization
	us := userState(st, su)
	s.emit(Event{Step: StepRequest, Status: StatusStart, SystemUser: su.Name})
	u, err := reg.SystemUserByQuery(ctx, sysID, org, su.ExternalRef)
	if err == nil {
		if err := s.recordAccepted(st, su.Name, us, u); err != nil {
			return s.fail(StepRequest, su.Name, err)
		}
		s.emit(Event{Step: StepRequest, Status: StatusSkipped, SystemUser: su.Name,
			Message: "the system user exists already: no new request (its rights are compared with the config in the change step)", Detail: map[string]string{"system_user_id": u.ID}})
		return nil
	}
	if !errors.Is(err, registry.ErrNotFound) {
		return s.fail(StepRequest, su.Name, err)
	}
	r, err := reg.GetRequestByExternalRef(ctx, sysID, org, su.ExternalRef)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		r = nil
	case err != nil:
		return s.fail(StepRequest, su.Name, err)
	default:
		if err := s.record(st, su.Name, us, r); err != nil {
			return s.fail(StepRequest, su.Name, err)
		}
	}
	if r != nil && r.Final() && !accepted(r) {
		ended := &RequestEndedError{SystemUser: su.Name, RequestID: r.ID, Status: r.Status, TimedOut: r.TimedOut}
		if !newRequest {
			s.emit(Event{Step: StepRequest, Status: StatusFailed, SystemUser: su.Name, RequestID: r.ID, Message: ended.Error()})
			return ended
		}
		if err := reg.DeleteRequest(ctx, r.ID); err != nil {
			return s.fail(StepRequest, su.Name, err)
		}
		if err := s.record(st, su.Name, config.SystemUserState{ExternalRef: su.ExternalRef}, nil); err != nil {
			return s.fail(StepRequest, su.Name, err)
		}
		s.emit(Event{Step: StepRequest, Status: StatusStart, SystemUser: su.Name, RequestID: r.ID,
			Message: "deleted the " + ended.Status + " request; sending a new one"})
		r = nil
	}
	created := false
	if r == nil {
		us = config.SystemUserState{ExternalRef: su.ExternalRef}
		r, created, err = reg.CreateRequest(ctx, createRequestOf(cfg, su))
		var pe *registry.ProblemError
		if errors.As(err, &pe) && pe.Has(registry.CodeSystemUserExists) {
			// Approved between our look-up and the create: record the system user.
			if u, qerr := reg.SystemUserByQuery(ctx, sysID, org, su.ExternalRef); qerr == nil {
				if err := s.recordAccepted(st, su.Name, us, u); err != nil {
					return s.fail(StepRequest, su.Name, err)
				}
				s.emit(Event{Step: StepRequest, Status: StatusSkipped, SystemUser: su.Name, Message: "the system user exists already"})
				return nil
			}
		}
		if err != nil {
			return s.fail(StepRequest, su.Name, err)
		}
		if err := s.record(st, su.Name, us, r); err != nil {
			return s.fail(StepRequest, su.Name, err)
		}
	}
	status := StatusDone
	if r.Waiting() {
		status = StatusWaiting
	}
	s.emit(Event{Step: StepRequest, Status: status, SystemUser: su.Name, RequestID: r.ID, ConfirmURL: r.ConfirmURL,
		Message: "request " + r.Status, Detail: map[string]string{"status": r.Status, "created": strconv.FormatBool(created)}})
	return nil
}

// createRequestOf is su's request: its rights (default: all the system's) and packages (default: the
// system's when it names neither).
func createRequestOf(cfg *config.Config, su config.SystemUser) registry.CreateRequest {
	rights, pkgs := su.Rights, su.AccessPackages
	if len(rights) == 0 {
		rights = cfg.System.Rights
		if len(pkgs) == 0 {
			pkgs = cfg.System.AccessPackages
		}
	}
	return registry.CreateRequest{SystemID: cfg.System.ID, PartyOrgNo: cfg.Organization, ExternalRef: su.ExternalRef,
		Rights: rightsOf(rights), AccessPackages: slices.Clone(pkgs)}
}

// approvalStep waits for (o.Wait) or reports (*WaitingError) every request still New.
func (s *Setup) approvalStep(ctx context.Context, st *config.State, users []config.SystemUser, o Options) error {
	var pending []Pending
	for _, su := range users {
		us := st.SystemUsers[su.Name]
		if us.RequestID != "" && !us.TimedOut && us.Status != "" && (&registry.Request{Status: us.Status}).Waiting() {
			pending = append(pending, Pending{SystemUser: su.Name, RequestID: us.RequestID, ConfirmURL: us.ConfirmURL})
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if !o.Wait {
		for _, p := range pending {
			s.emit(Event{Step: StepApproval, Status: StatusWaiting, SystemUser: p.SystemUser, RequestID: p.RequestID,
				ConfirmURL: p.ConfirmURL, Message: "an administrator of the organisation must approve the request at the confirm URL",
				Detail: map[string]string{"wait": "no"}})
		}
		return &WaitingError{Pending: pending}
	}
	for _, p := range pending {
		if err := s.waitOne(ctx, st, p, o.WaitOptions); err != nil {
			return err
		}
	}
	return nil
}

func (s *Setup) waitOne(ctx context.Context, st *config.State, p Pending, wo registry.WaitOptions) error {
	s.emit(Event{Step: StepApproval, Status: StatusWaiting, SystemUser: p.SystemUser, RequestID: p.RequestID,
		ConfirmURL: p.ConfirmURL, Message: "waiting for an administrator of the organisation to approve at the confirm URL"})
	polls := 0
	var saveErr error
	wo.Progress = func(r *registry.Request) {
		polls++
		us := st.SystemUsers[p.SystemUser]
		if us.Status != r.Status || us.TimedOut != r.TimedOut || us.ConfirmURL != r.ConfirmURL {
			if err := s.record(st, p.SystemUser, us, r); err != nil && saveErr == nil {
				saveErr = err
			}
		}
		s.emit(Event{Step: StepApproval, Status: StatusWaiting, SystemUser: p.SystemUser, RequestID: r.ID, ConfirmURL: r.ConfirmURL,
			Message: "request " + r.Status, Detail: map[string]string{"status": r.Status, "polls": strconv.Itoa(polls),
				"escalated": strconv.FormatBool(r.Escalated), "timed_out": strconv.FormatBool(r.TimedOut)}})
	}
	r, err := s.Registry.WaitForApproval(ctx, p.RequestID, wo)
	if err != nil {
		return s.fail(StepApproval, p.SystemUser, err)
	}
	if saveErr != nil {
		return s.fail(StepApproval, p.SystemUser, saveErr)
	}
	if !accepted(r) {
		ended := &RequestEndedError{SystemUser: p.SystemUser, RequestID: r.ID, Status: r.Status, TimedOut: r.TimedOut}
		s.emit(Event{Step: StepApproval, Status: StatusFailed, SystemUser: p.SystemUser, RequestID: r.ID, Message: ended.Error()})
		return ended
	}
	us := st.SystemUsers[p.SystemUser]
	su, _ := s.Config.SystemUser(p.SystemUser)
	if u, err := s.Registry.SystemUserByQuery(ctx, s.Config.System.ID, s.Config.Organization, su.ExternalRef); err == nil {
		us.SystemUserID = u.ID
	} else if !errors.Is(err, registry.ErrNotFound) {
		return s.fail(StepApproval, p.SystemUser, err)
	}
	us.Status = registry.StatusAccepted
	if err := s.record(st, p.SystemUser, us, nil); err != nil {
		return s.fail(StepApproval, p.SystemUser, err)
	}
	s.emit(Event{Step: StepApproval, Status: StatusDone, SystemUser: p.SystemUser, RequestID: r.ID,
		Message: "approved", Detail: map[string]string{"system_user_id": st.SystemUsers[p.SystemUser].SystemUserID}})
	return nil
}

// tokenStep gets one system-user token per accepted system user: proof that Maskinporten sees it.
func (s *Setup) tokenStep(ctx context.Context, st *config.State, users []config.SystemUser) error {
	if s.Tokens == nil {
		s.emit(Event{Step: StepToken, Status: StatusSkipped, Message: "no token source configured"})
		return nil
	}
	for _, su := range users {
		if !st.SystemUsers[su.Name].Accepted() {
			continue
		}
		s.emit(Event{Step: StepToken, Status: StatusStart, SystemUser: su.Name})
		tok, err := s.Tokens.Token(ctx, tokens.Request{Scopes: su.Scopes, Org: s.Config.Organization, ExternalRef: su.ExternalRef})
		if err != nil {
			return s.fail(StepToken, su.Name, fmt.Errorf("first system-user token for %q: %w", su.Name, err))
		}
		s.emit(Event{Step: StepToken, Status: StatusDone, SystemUser: su.Name, Message: "got a system-user token",
			Detail: map[string]string{"scope": tok.Scope, "expires": tok.Expiry.UTC().Format(time.RFC3339)}})
	}
	return nil
}
