package setup_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// onboarded is an env whose one system user was requested and approved with ResourceExample.
func onboarded(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, sandbox.Options{})
	e.approveOnWait(true)
	if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, WaitOptions: fastWait}); err != nil {
		t.Fatal(err)
	}
	return e
}

// addSkatt adds ResourceSkatt to the system and to the system user in the config.
func (e *env) addSkatt() {
	e.cfg.System.Rights = append(e.cfg.System.Rights, config.Right{Resource: sandbox.ResourceSkatt})
	e.cfg.SystemUsers[0].Rights = []config.Right{{Resource: sandbox.ResourceExample}, {Resource: sandbox.ResourceSkatt}}
}

// assertChanged: exactly one change request in Altinn, accepted; the sandbox holds both rights for the
// same system user (id kept); the state records the approved grant; status shows no drift.
func (e *env) assertChanged(t *testing.T) {
	t.Helper()
	crs := e.sb.ChangeRequests()
	if len(crs) != 1 || crs[0].Status != "Accepted" || crs[0].Deleted {
		t.Fatalf("change requests: %+v", crs)
	}
	users := e.sb.SystemUsers()
	if len(users) != 1 || users[0].ID != crs[0].SystemUserID {
		t.Fatalf("system users %+v", users)
	}
	rights, _, err := e.sb.SystemUserRights(users[0].ID)
	if err != nil || !slices.Equal(rights, []string{sandbox.ResourceExample, sandbox.ResourceSkatt}) {
		t.Fatalf("the sandbox holds %v (%v)", rights, err)
	}
	st, err := config.LoadState(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	us := st.SystemUsers["default"]
	if us.Approved == nil || !slices.Equal(us.Approved.Rights, []string{sandbox.ResourceExample, sandbox.ResourceSkatt}) ||
		us.Change == nil || us.Change.ID != crs[0].ID || us.Change.Status != "Accepted" {
		t.Fatalf("state %+v (approved %+v, change %+v)", us, us.Approved, us.Change)
	}
	if _, err := e.newSetup(nil).Status(context.Background(), nil); err != nil {
		t.Fatalf("status after the change: %v", err)
	}
}

// TestChangeRightsFlow: a right added to the config → setup sends a change request, shows its confirm
// URL and reports waiting (exit 3 with --no-wait); running again sends nothing new; status shows it
// pending; the administrator approves; setup finishes and the sandbox holds the right, no drift.
func TestChangeRightsFlow(t *testing.T) {
	e := onboarded(t)
	e.addSkatt()
	e.approveOnWait(false)
	e.onEvent = nil
	ctx := context.Background()
	_, err := e.newSetup(nil).Run(ctx, setup.Options{})
	var we *setup.WaitingError
	if !errors.As(err, &we) || len(we.Pending) != 1 || !we.Pending[0].Change {
		t.Fatalf("setup after adding a right: %v", err)
	}
	crs := e.sb.ChangeRequests()
	if len(crs) != 1 || !slices.Equal(crs[0].RequiredRights, []string{sandbox.ResourceSkatt}) || len(crs[0].UnwantedRights) != 0 {
		t.Fatalf("change requests %+v", crs)
	}
	if p := we.Pending[0]; p.RequestID != crs[0].ID || p.ConfirmURL != e.sb.ChangeConfirmURL(crs[0].ID) || !strings.Contains(err.Error(), p.ConfirmURL) {
		t.Fatalf("pending %+v", p)
	}
	if ev := e.eventsOf(setup.StepChange, setup.StatusWaiting); len(ev) != 1 || ev[0].ConfirmURL != we.Pending[0].ConfirmURL {
		t.Fatalf("change events %+v", ev)
	}
	// Again: the same change request comes back, none is added.
	if _, err := e.newSetup(nil).Run(ctx, setup.Options{}); !errors.As(err, &we) || we.Pending[0].RequestID != crs[0].ID {
		t.Fatalf("second run: %v", err)
	}
	if _, err := e.newSetup(nil).Status(ctx, nil); !errors.As(err, &we) || !we.Pending[0].Change {
		t.Fatalf("status: %v", err)
	}
	if n := len(e.sb.ChangeRequests()); n != 1 {
		t.Fatalf("%d change requests after re-runs", n)
	}
	if err := e.sb.ApproveChange(crs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.newSetup(nil).Run(ctx, setup.Options{Wait: true, WaitOptions: fastWait}); err != nil {
		t.Fatal(err)
	}
	e.assertChanged(t)
}

// TestChangeRefusedBeforeSending: a system user asking for a right its system (in Altinn) lacks is
// refused, naming the config field, and no change request is sent.
func TestChangeRefusedBeforeSending(t *testing.T) {
	e := onboarded(t)
	e.cfg.System.Rights = append(e.cfg.System.Rights, config.Right{Resource: sandbox.ResourceMaskinportenSchema})
	e.cfg.SystemUsers[0].Rights = []config.Right{{Resource: sandbox.ResourceExample}, {Resource: sandbox.ResourceMaskinportenSchema}}
	s := e.newSetup(nil)
	// Only the change step runs against Altinn's system as it is (registering it would refuse the
	// resource with AUTH.VLD-00017): Status plans the change without sending.
	_, err := s.Status(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "system_users[0].rights[1]") || !strings.Contains(err.Error(), sandbox.ResourceMaskinportenSchema) {
		t.Fatalf("status: %v", err)
	}
	if n := len(e.sb.ChangeRequests()); n != 0 {
		t.Fatalf("%d change requests sent", n)
	}
}

// TestChangeKillAtEveryUpstreamCall crashes the change run right after each of its upstream calls, once
// losing that reply and once after delivering it, crashes the resumed run at the same count again, then
// lets a last run finish: Altinn ends with exactly one change request, approved, and the right held.
func TestChangeKillAtEveryUpstreamCall(t *testing.T) {
	e := onboarded(t)
	e.addSkatt()
	k := &killer{cancel: func() {}}
	if _, err := e.newSetup(func(rt http.RoundTripper) http.RoundTripper { k.base = rt; return k }).Run(context.Background(),
		setup.Options{Wait: true, WaitOptions: fastWait}); err != nil {
		t.Fatal(err)
	}
	e.assertChanged(t)
	total := k.n.Load()
	if total < 5 {
		t.Fatalf("only %d upstream calls in a change run?", total)
	}
	for _, lose := range []bool{true, false} {
		for n := int64(1); n <= total; n++ {
			t.Run(fmt.Sprintf("lose=%v/after=%d", lose, n), func(t *testing.T) {
				t.Parallel()
				e := onboarded(t)
				e.addSkatt()
				for run := 0; run < 2; run++ {
					ctx, cancel := context.WithCancel(context.Background())
					k := &killer{after: n, lose: lose, cancel: cancel}
					_, err := e.newSetup(func(rt http.RoundTripper) http.RoundTripper { k.base = rt; return k }).Run(ctx,
						setup.Options{Wait: true, WaitOptions: fastWait})
					cancel()
					if err == nil && k.late.Load() > 0 {
						t.Fatalf("run %d: no error although killed after call %d", run, n)
					}
				}
				if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, WaitOptions: fastWait}); err != nil {
					t.Fatalf("resumed run: %v", err)
				}
				e.assertChanged(t)
			})
		}
	}
}

// TestStatusReadOnlyWritesNothing: agent request status is a read. With ReadOnly, Status learns the
// request's state and reports it, and the state directory stays empty.
func TestStatusReadOnlyWritesNothing(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	ctx := context.Background()
	if _, err := e.newSetup(nil).Run(ctx, setup.Options{}); !errors.Is(err, setup.ErrWaiting) {
		t.Fatalf("run: %v", err)
	}
	fresh := t.TempDir()
	s := e.newSetup(nil)
	s.StateDir, s.ReadOnly = fresh, true
	var we *setup.WaitingError
	if _, err := s.Status(ctx, nil); !errors.As(err, &we) || len(we.Pending) != 1 {
		t.Fatalf("status: %v", err)
	}
	if entries, err := os.ReadDir(fresh); err != nil || len(entries) != 0 {
		t.Fatalf("status wrote %v (%v)", entries, err)
	}
}
