package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
)

// checkState reports the system and each system user: from Altinn when the organisation's token works,
// else from the state file alone (and says so).
func (r *run) checkState(ctx context.Context) {
	st, err := config.LoadState(r.o.StateDir)
	if err != nil {
		r.add(Finding{Check: CheckSystem, Severity: SevError, Message: "the state file cannot be read: " + err.Error(),
			Fix: "move the damaged state file away (" + config.StatePath(r.o.StateDir) + ") and run `agent setup` again: it finds the system and requests in Altinn"})
		st = config.NewState()
	}
	var reg *registry.Client
	if r.src != nil {
		if ep, err := r.cfg.ResolvedEndpoints(); err == nil {
			reg = &registry.Client{BaseURL: ep.Altinn, HTTPClient: r.o.HTTPClient, Tokens: r.src, RetryMax: -1}
		}
	}
	if reg == nil {
		r.add(Finding{Check: CheckSystem, Severity: SevInfo, Message: "Altinn was not asked (no working token, see above): the system and requests below come from the state file " + config.StatePath(r.o.StateDir)})
		r.stateFromFile(st)
		return
	}
	if !r.systemUpstream(ctx, reg) {
		return
	}
	for _, su := range r.cfg.SystemUsers {
		r.userUpstream(ctx, reg, su, st.SystemUsers[su.Name])
	}
}

// systemUpstream checks the system in the System Register; false when it is not there.
func (r *run) systemUpstream(ctx context.Context, reg *registry.Client) bool {
	id := r.cfg.System.ID
	sys, err := reg.GetSystem(ctx, id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		r.add(Finding{Check: CheckSystem, Severity: SevError, Message: "the system " + id + " is not in Altinn's System Register",
			Fix: "run `agent system register` (or `agent setup`)"})
		return false
	case err != nil:
		r.add(Finding{Check: CheckSystem, Severity: SevError, Message: "Altinn did not answer about the system " + id + ": " + err.Error(),
			Fix: "check the Altinn URL and that the client has the scope " + registry.ScopeSystemRegisterWrite})
		return false
	case sys.IsDeleted:
		r.add(Finding{Check: CheckSystem, Severity: SevError, Message: "the system " + id + " was deleted in Altinn; its id cannot be used again",
			Fix: "choose a new system.id (re-run `agent setup`)"})
		return false
	case !slices.Contains(sys.ClientIDs, r.cfg.Maskinporten.ClientID):
		r.add(Finding{Check: CheckSystem, Severity: SevError, Message: "the system " + id + " does not list the client id " + r.cfg.Maskinporten.ClientID + ", so no system-user token can be issued",
			Fix: "run `agent system register` to update it"})
		return true
	}
	r.sys = sys
	r.add(Finding{Check: CheckSystem, Severity: SevOK, Message: "the system " + id + " is registered in Altinn with client " + r.cfg.Maskinporten.ClientID})
	return true
}

// userUpstream checks one system user: it exists, or its request is pending or ended.
func (r *run) userUpstream(ctx context.Context, reg *registry.Client, su config.SystemUser, us config.SystemUserState) {
	u, err := reg.SystemUserByQuery(ctx, r.cfg.System.ID, r.cfg.Organization, su.ExternalRef)
	if err == nil {
		r.add(Finding{Check: CheckRequest, Severity: SevOK, Message: fmt.Sprintf("system user %q is approved (id %s)", su.Name, u.ID),
			Detail: map[string]string{"system_user": su.Name, "system_user_id": u.ID}})
		r.checkDrift(ctx, reg, su, u.ID)
		return
	}
	if errors.Is(err, registry.ErrNotFound) && us.SystemUserID != "" && us.Accepted() {
		r.add(Finding{Check: CheckRequest, Severity: SevError,
			Message: fmt.Sprintf("system user %q (id %s) no longer exists in Altinn: it was deleted (tokens fail with MP-303)", su.Name, us.SystemUserID),
			Fix:     "request a new one: `agent setup --new-request` (an administrator approves it; the new system user gets a new id)",
			Detail:  map[string]string{"system_user": su.Name, "system_user_id": us.SystemUserID}})
		return
	}
	if !errors.Is(err, registry.ErrNotFound) {
		r.add(Finding{Check: CheckRequest, Severity: SevError, Message: fmt.Sprintf("Altinn did not answer about system user %q: %v", su.Name, err),
			Fix: "run doctor again; if it persists, check the client's scope " + registry.ScopeRequestWrite})
		return
	}
	var req *registry.Request
	if us.RequestID != "" {
		if req, err = reg.GetRequest(ctx, us.RequestID); errors.Is(err, registry.ErrNotFound) {
			req, err = nil, nil
		}
	}
	if req == nil && err == nil {
		if req, err = reg.GetRequestByExternalRef(ctx, r.cfg.System.ID, r.cfg.Organization, su.ExternalRef); errors.Is(err, registry.ErrNotFound) {
			req, err = nil, nil
		}
	}
	switch {
	case err != nil:
		r.add(Finding{Check: CheckRequest, Severity: SevError, Message: fmt.Sprintf("Altinn did not answer about the request of system user %q: %v", su.Name, err),
			Fix: "run doctor again; if it persists, check the client's scope " + registry.ScopeRequestRead})
	case req == nil:
		r.add(Finding{Check: CheckRequest, Severity: SevError, Message: fmt.Sprintf("system user %q has neither a system user nor a request in Altinn", su.Name),
			Fix: "run `agent request create` (or `agent setup`)"})
	default:
		r.add(requestFinding(su.Name, req.ID, req.Status, req.TimedOut, req.ConfirmURL, "Altinn"))
	}
}

// stateFromFile reports what the state file says, without asking Altinn.
func (r *run) stateFromFile(st *config.State) {
	if st.System.ID != r.cfg.System.ID {
		r.add(Finding{Check: CheckSystem, Severity: SevWarning, Message: "the state file has no record of registering the system " + r.cfg.System.ID,
			Fix: "run `agent setup` (or `agent system register`)"})
	}
	for _, su := range r.cfg.SystemUsers {
		us, ok := st.SystemUsers[su.Name]
		switch {
		case !ok || us.Status == "":
			r.add(Finding{Check: CheckRequest, Severity: SevWarning, Message: fmt.Sprintf("system user %q: no request recorded", su.Name),
				Fix: "run `agent setup` (or `agent request create`)"})
		case us.Accepted():
			r.add(Finding{Check: CheckRequest, Severity: SevOK, Message: fmt.Sprintf("system user %q was approved (id %s, per the state file)", su.Name, us.SystemUserID)})
		default:
			r.add(requestFinding(su.Name, us.RequestID, us.Status, us.TimedOut, us.ConfirmURL, "the state file"))
		}
	}
}

// requestFinding explains a request that is not (yet) a system user.
func requestFinding(name, id, status string, timedOut bool, confirmURL, source string) Finding {
	detail := map[string]string{"system_user": name, "request_id": id, "status": status, "source": source}
	if !timedOut && strings.EqualFold(status, registry.StatusNew) {
		detail["confirm_url"] = confirmURL
		return Finding{Check: CheckRequest, Severity: SevWarning,
			Message: fmt.Sprintf("system user %q: request %s is still waiting for approval (per %s); approve at %s", name, id, source, confirmURL),
			Fix:     "an administrator of the organisation opens " + confirmURL + " and approves; then `agent request wait` (or `agent setup`) finishes",
			Detail:  detail}
	}
	what := "was " + strings.ToLower(status)
	if timedOut {
		what = "timed out"
	}
	return Finding{Check: CheckRequest, Severity: SevError, Message: fmt.Sprintf("system user %q: request %s %s (per %s)", name, id, what, source),
		Fix: "send a new request: `agent request create --new-request` (or `agent setup --new-request`)", Detail: detail}
}
