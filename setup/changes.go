package setup

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
)

// StepChange is the step that compares an existing system user's rights and access packages with the
// config and sends a change request when they differ (altinn-api.md §4.5).
const StepChange = "change"

// changeStep brings an accepted system user's grant in line with the config. It reads what Altinn holds
// (the vendor-visible trail: the request and its accepted change requests, registry.HeldBy) and plans
// the change; a wanted right or package the system lacks is refused before anything is sent, naming the
// config field. A change request already waiting for exactly this change is reused. Otherwise the
// change request's correlation id is made and saved in the state file BEFORE it is sent: a setup killed
// at any point re-sends the same id and Altinn returns the stored change request, never a second one.
func (s *Setup) changeStep(ctx context.Context, st *config.State, su config.SystemUser) error {
	us := st.SystemUsers[su.Name]
	if us.SystemUserID == "" || !(&registry.Request{Status: us.Status}).Is(registry.StatusAccepted) {
		return nil // no system user yet: its request carries the rights
	}
	reg, sysID := s.Registry, s.Config.System.ID
	s.emit(Event{Step: StepChange, Status: StatusStart, SystemUser: su.Name})
	sys, err := reg.GetSystem(ctx, sysID)
	if err != nil {
		return s.fail(StepChange, su.Name, err)
	}
	held, err := reg.HeldBy(ctx, sysID, us.SystemUserID)
	if err != nil {
		return s.fail(StepChange, su.Name, err)
	}
	ch, err := registry.PlanChange(sys, WantedOf(s.Config.Wants(su)), *held)
	if err != nil {
		return s.fail(StepChange, su.Name, err)
	}
	if ch.Empty() {
		us.Approved = grantOf(held.Rights, held.AccessPackages)
		if us.Change != nil && us.Change.Status == "" {
			us.Change = nil // an id saved but never sent (or never stored): nothing to ask any more
		}
		if err := s.recordUser(st, su.Name, us); err != nil {
			return s.fail(StepChange, su.Name, err)
		}
		s.emit(Event{Step: StepChange, Status: StatusSkipped, SystemUser: su.Name,
			Message: "the system user holds what the config asks: no change needed"})
		return nil
	}
	add, remove := changeGrants(ch)
	var cr *registry.ChangeRequest
	if p := held.PendingFor(ch); p != nil {
		cr = p
	} else {
		if us.Change == nil || us.Change.Status != "" || !sameGrant(us.Change.Add, add) || !sameGrant(us.Change.Remove, remove) {
			id, err := registry.NewCorrelationID()
			if err != nil {
				return s.fail(StepChange, su.Name, err)
			}
			us.Change = &config.ChangeState{ID: id, Add: add, Remove: remove, Created: s.now()}
			if err := s.recordUser(st, su.Name, us); err != nil { // saved before it is sent
				return s.fail(StepChange, su.Name, err)
			}
		}
		cr, _, err = reg.CreateChangeRequest(ctx, us.Change.ID, us.SystemUserID, ch)
		if err != nil {
			return s.fail(StepChange, su.Name, err)
		}
	}
	us.Change = &config.ChangeState{ID: cr.ID, Status: cr.Status, ConfirmURL: cr.ConfirmURL, Add: add, Remove: remove,
		Created: changeCreated(us.Change, cr.ID, s.now()), Updated: s.now()}
	if err := s.recordUser(st, su.Name, us); err != nil {
		return s.fail(StepChange, su.Name, err)
	}
	status := StatusDone
	if !cr.Final() {
		status = StatusWaiting
	}
	s.emit(Event{Step: StepChange, Status: status, SystemUser: su.Name, RequestID: cr.ID, ConfirmURL: cr.ConfirmURL,
		Message: "change request " + cr.Status + ": " + ch.String(), Detail: changeDetail(us.Change)})
	return nil
}

// changeCreated keeps the creation time of the recorded change when it is the same one.
func changeCreated(old *config.ChangeState, id string, now time.Time) time.Time {
	if old != nil && old.ID == id && !old.Created.IsZero() {
		return old.Created
	}
	return now
}

// waitChange waits for (o.Wait) or reports the change request of su that is still New.
func (s *Setup) waitChange(ctx context.Context, st *config.State, su config.SystemUser, wo registry.WaitOptions) error {
	us := st.SystemUsers[su.Name]
	c := us.Change
	s.emit(Event{Step: StepApproval, Status: StatusWaiting, SystemUser: su.Name, RequestID: c.ID, ConfirmURL: c.ConfirmURL,
		Message: "waiting for an administrator of the organisation to approve the change at the confirm URL", Detail: changeDetail(c)})
	cr, err := s.Registry.WaitForChange(ctx, c.ID, wo)
	if err != nil {
		return s.fail(StepApproval, su.Name, err)
	}
	c.Status, c.Updated = cr.Status, s.now()
	if cr.Is(registry.StatusAccepted) {
		w := s.Config.Wants(su)
		us.Approved = grantOf(rightsOf(w.Rights), w.AccessPackages)
	}
	us.Change = c
	if err := s.recordUser(st, su.Name, us); err != nil {
		return s.fail(StepApproval, su.Name, err)
	}
	if !cr.Is(registry.StatusAccepted) {
		err := fmt.Errorf("the change request %s for system user %q was %s: the system user keeps its rights; "+
			"run `agent setup` to ask again", cr.ID, su.Name, strings.ToLower(cr.Status))
		s.emit(Event{Step: StepApproval, Status: StatusFailed, SystemUser: su.Name, RequestID: cr.ID, Message: err.Error(), Detail: changeDetail(c)})
		return err
	}
	s.emit(Event{Step: StepApproval, Status: StatusDone, SystemUser: su.Name, RequestID: cr.ID, Message: "change approved", Detail: changeDetail(c)})
	return nil
}

// changeDetail is the Detail of a change request's events: kind "change", its status and what it asks.
func changeDetail(c *config.ChangeState) map[string]string {
	d := map[string]string{"kind": "change", "status": c.Status}
	if s := grantText("+ ", c.Add) + grantText("- ", c.Remove); s != "" {
		d["change"] = strings.TrimSuffix(s, ", ")
	}
	return d
}

func grantText(sign string, g config.Grant) string {
	var b strings.Builder
	for _, x := range slices.Concat(g.Rights, g.AccessPackages) {
		b.WriteString(sign + x + ", ")
	}
	return b.String()
}

// changeApprovalStep waits for (o.Wait) or reports (*WaitingError) every change request still New.
func (s *Setup) changeApprovalStep(ctx context.Context, st *config.State, users []config.SystemUser, o Options) error {
	var pending []Pending
	for _, su := range users {
		if us := st.SystemUsers[su.Name]; pendingChange(us) {
			pending = append(pending, Pending{SystemUser: su.Name, RequestID: us.Change.ID, ConfirmURL: us.Change.ConfirmURL, Change: true})
		}
	}
	if len(pending) == 0 {
		return nil
	}
	if !o.Wait {
		for _, p := range pending {
			d := changeDetail(st.SystemUsers[p.SystemUser].Change)
			d["wait"] = "no"
			s.emit(Event{Step: StepApproval, Status: StatusWaiting, SystemUser: p.SystemUser, RequestID: p.RequestID,
				ConfirmURL: p.ConfirmURL, Message: "an administrator of the organisation must approve the change at the confirm URL",
				Detail: d})
		}
		return &WaitingError{Pending: pending}
	}
	for _, p := range pending {
		su, _ := s.Config.SystemUser(p.SystemUser)
		if err := s.waitChange(ctx, st, su, o.WaitOptions); err != nil {
			return err
		}
	}
	return nil
}

// pendingChange reports whether su has a change request waiting for approval.
func pendingChange(us config.SystemUserState) bool {
	return us.Change != nil && us.Change.Status != "" && !(&registry.ChangeRequest{Status: us.Change.Status}).Final()
}

// recordUser saves su's state.
func (s *Setup) recordUser(st *config.State, name string, us config.SystemUserState) error {
	us.Updated = s.now()
	st.SystemUsers[name] = us
	return s.save(st)
}

// WantedOf is the registry's form of what a system user should hold.
func WantedOf(w config.Wants) registry.Wanted {
	return registry.Wanted{Rights: rightsOf(w.Rights), RightFields: w.RightFields,
		AccessPackages: registry.AccessPackages(w.AccessPackages), PackageFields: w.PackageFields}
}

func grantOf(rights []registry.Right, pkgs []string) *config.Grant {
	g := &config.Grant{AccessPackages: slices.Clone(pkgs)}
	for _, r := range rights {
		g.Rights = append(g.Rights, rightText(r))
	}
	slices.Sort(g.Rights)
	slices.Sort(g.AccessPackages)
	return g
}

func changeGrants(ch registry.Change) (add, remove config.Grant) {
	return *grantOf(ch.RequiredRights, ch.RequiredAccessPackages), *grantOf(ch.UnwantedRights, ch.UnwantedAccessPackages)
}

func rightText(r registry.Right) string {
	var vals []string
	for _, a := range r.Resource {
		vals = append(vals, a.Value)
	}
	s := strings.Join(vals, "+")
	if r.Action != "" {
		s += ":" + r.Action
	}
	return s
}

func sameGrant(a, b config.Grant) bool {
	return slices.Equal(a.Rights, b.Rights) && slices.Equal(a.AccessPackages, b.AccessPackages)
}
