package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
)

// CheckRights is the check of a system user's rights and access packages against the config.
const CheckRights = "rights"

// checkDrift compares what system user su should hold (config) with what Altinn holds as far as the
// vendor API shows (its request and accepted change requests, registry.HeldBy) and reports a pending
// change request with its confirm URL, drift with the fix, or no drift.
func (r *run) checkDrift(ctx context.Context, reg *registry.Client, su config.SystemUser, userID string) {
	if r.sys == nil {
		return
	}
	held, err := reg.HeldBy(ctx, r.cfg.System.ID, userID)
	if err != nil {
		sev := SevWarning
		if errors.Is(err, registry.ErrNotFound) {
			sev = SevInfo
		}
		r.add(Finding{Check: CheckRights, Severity: sev,
			Message: fmt.Sprintf("what system user %q holds could not be read from Altinn: %v", su.Name, err),
			Fix:     "run doctor again; the state file's record of the last approval is the other witness"})
		return
	}
	ch, err := registry.PlanChange(r.sys, WantedOf(r.cfg.Wants(su)), *held)
	if err != nil {
		r.add(Finding{Check: CheckRights, Severity: SevError, Message: fmt.Sprintf("system user %q: %v", su.Name, err),
			Fix: "fix the config field named above, then run `agent setup`"})
		return
	}
	detail := map[string]string{"system_user": su.Name, "system_user_id": userID}
	if p := held.PendingFor(ch); p != nil && !ch.Empty() {
		detail["change_request_id"], detail["confirm_url"] = p.ID, p.ConfirmURL
		r.add(Finding{Check: CheckRights, Severity: SevWarning,
			Message: fmt.Sprintf("system user %q: change request %s (%s) waits for approval at %s", su.Name, p.ID, ch, p.ConfirmURL),
			Fix:     "an administrator of the organisation opens " + p.ConfirmURL + " and approves; `agent request status` follows it",
			Detail:  detail})
		return
	}
	if !ch.Empty() {
		detail["drift"] = ch.String()
		f := Finding{Check: CheckRights, Severity: SevWarning,
			Message: fmt.Sprintf("system user %q does not hold what the config asks: %s", su.Name, ch),
			Fix:     "run `agent setup`: it sends a change request and shows its confirm URL", Detail: detail}
		if len(held.Pending) > 0 {
			var ids []string
			for _, p := range held.Pending {
				ids = append(ids, p.ID+" ("+p.Change().String()+") at "+p.ConfirmURL)
			}
			f.Message += "; other change requests wait: " + strings.Join(ids, "; ")
		}
		r.add(f)
		return
	}
	r.add(Finding{Check: CheckRights, Severity: SevOK,
		Message: fmt.Sprintf("system user %q holds the rights and access packages the config asks for (no drift)", su.Name), Detail: detail})
}

// WantedOf is the registry's form of a config grant: each right as an Altinn resource right.
func WantedOf(w config.Wants) registry.Wanted {
	out := registry.Wanted{RightFields: w.RightFields, AccessPackages: registry.AccessPackages(w.AccessPackages),
		PackageFields: w.PackageFields}
	for _, rt := range w.Rights {
		out.Rights = append(out.Rights, registry.ResourceRight(rt.Resource, rt.Action))
	}
	return out
}

// checkKeyExpiry reports the recorded expiry of the signing key kid (state file): a warning 30 days
// ahead, an error once expired, info when nothing is recorded (an ordinary client cannot read it).
func (r *run) checkKeyExpiry(st *config.State, kid string) {
	k, ok := st.Keys[kid]
	if !ok || k.Expires.IsZero() {
		r.add(Finding{Check: CheckKey, Severity: SevInfo,
			Message: "no expiry is recorded for key " + kid + " (Maskinporten keys live at most a year from upload)",
			Fix:     "record it: `agent keys upload` (with an admin client it reads the expiry back; else confirm the upload date)"})
		return
	}
	left := k.Expires.Sub(r.now())
	detail := map[string]string{"kid": kid, "expires": k.Expires.UTC().Format(time.RFC3339), "source": k.Source}
	switch {
	case left <= 0:
		r.add(Finding{Check: CheckKey, Severity: SevError, Message: "the signing key " + kid + " expired " + detail["expires"] + ": grants fail with MP-121",
			Fix: "rotate now: `agent keys rotate`, `agent keys upload`, `agent keys activate`", Detail: detail})
	case left <= 30*24*time.Hour:
		r.add(Finding{Check: CheckKey, Severity: SevWarning,
			Message: fmt.Sprintf("the signing key %s expires in %d days (%s)", kid, int(left.Hours()/24), detail["expires"]),
			Fix:     "rotate it: `agent keys rotate`, `agent keys upload`, `agent keys activate`", Detail: detail})
	default:
		r.add(Finding{Check: CheckKey, Severity: SevOK,
			Message: fmt.Sprintf("the signing key %s is registered until %s (%d days)", kid, detail["expires"], int(left.Hours()/24)), Detail: detail})
	}
}
