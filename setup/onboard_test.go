package setup_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// twoUsers is scenario 10: two system users of one system, told apart by externalRef.
var twoUsers = []config.SystemUser{
	{Name: "default", Scopes: []string{scope}},
	{Name: "payroll", ExternalRef: "payroll", Scopes: []string{scope}},
}

func TestOnboardTwoSystemUsers(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, twoUsers...)
	// Approve each request only on its second poll, so progress is reported while waiting.
	e.onEvent = func(ev setup.Event) {
		if ev.Step == setup.StepApproval && ev.Status == setup.StatusWaiting && ev.Detail["polls"] == "2" {
			if err := e.sb.Approve(ev.RequestID); err != nil {
				t.Errorf("approve: %v", err)
			}
		}
	}
	st, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, WaitOptions: fastWait})
	if err != nil {
		t.Fatal(err)
	}
	e.assertOnboarded(t, 0)
	if got := e.eventsOf(setup.StepSystem, setup.StatusDone); len(got) != 1 || got[0].Detail["outcome"] != "created" {
		t.Errorf("system events %+v", got)
	}
	waiting := e.eventsOf(setup.StepRequest, setup.StatusWaiting)
	if len(waiting) != 2 {
		t.Fatalf("request waiting events %+v", waiting)
	}
	for _, ev := range waiting {
		if ev.ConfirmURL != e.sb.ConfirmURL(ev.RequestID) || st.SystemUsers[ev.SystemUser].RequestID != ev.RequestID {
			t.Errorf("event %+v: confirm URL should be %s", ev, e.sb.ConfirmURL(ev.RequestID))
		}
	}
	polls := 0
	for _, ev := range e.eventsOf(setup.StepApproval, setup.StatusWaiting) {
		if ev.Detail["polls"] != "" {
			polls++
		}
	}
	if polls != 6 { // per user: New, New (approved in the callback), Accepted
		t.Errorf("progress events: %d, want 6", polls)
	}
	if got := e.eventsOf(setup.StepToken, setup.StatusDone); len(got) != 2 {
		t.Errorf("token events %+v", got)
	}

	// A second run finds everything done: nothing is created or written upstream.
	before := len(e.sb.Requests())
	e.events = nil
	if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{}); err != nil {
		t.Fatal(err)
	}
	if got := e.eventsOf(setup.StepSystem, setup.StatusDone); len(got) != 1 || got[0].Detail["outcome"] != "unchanged" {
		t.Errorf("second run system events %+v", got)
	}
	if got := e.eventsOf(setup.StepRequest, setup.StatusSkipped); len(got) != 2 {
		t.Errorf("second run request events %+v", got)
	}
	if len(e.sb.Requests()) != before {
		t.Errorf("second run made requests")
	}
	e.assertOnboarded(t, 0)
}

// TestKillAtEveryUpstreamCall crashes setup right after each upstream call of a full onboarding (two
// system users), once losing that call's reply and once after delivering it, crashes the resumed run at
// the same count again, then lets a last run finish. Every time Altinn must end with one system and one
// request and system user per externalRef, and tokens must work.
func TestKillAtEveryUpstreamCall(t *testing.T) {
	// Count the upstream calls of an uninterrupted onboarding.
	e := newEnv(t, sandbox.Options{}, twoUsers...)
	e.approveOnWait(true)
	k := &killer{cancel: func() {}}
	s := e.newSetup(func(rt http.RoundTripper) http.RoundTripper { k.base = rt; return k })
	if _, err := s.Run(context.Background(), setup.Options{Wait: true, WaitOptions: fastWait}); err != nil {
		t.Fatal(err)
	}
	total := k.n.Load()
	if total < 10 {
		t.Fatalf("only %d upstream calls in a full onboarding?", total)
	}
	for _, lose := range []bool{true, false} {
		for n := int64(1); n <= total; n++ {
			t.Run(fmt.Sprintf("lose=%v/after=%d", lose, n), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, sandbox.Options{}, twoUsers...)
				e.approveOnWait(true)
				for run := 0; run < 2; run++ {
					ctx, cancel := context.WithCancel(context.Background())
					k := &killer{after: n, lose: lose, cancel: cancel}
					s := e.newSetup(func(rt http.RoundTripper) http.RoundTripper { k.base = rt; return k })
					_, err := s.Run(ctx, setup.Options{Wait: true, WaitOptions: fastWait})
					cancel()
					if err == nil && k.late.Load() > 0 {
						t.Fatalf("run %d: no error although killed after call %d", run, n)
					}
				}
				if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, WaitOptions: fastWait}); err != nil {
					t.Fatalf("resumed run: %v", err)
				}
				e.assertOnboarded(t, 0)
			})
		}
	}
}

func TestWithoutWaitReportsConfirmURLs(t *testing.T) {
	e := newEnv(t, sandbox.Options{}, twoUsers...)
	_, err := e.newSetup(nil).Run(context.Background(), setup.Options{})
	var we *setup.WaitingError
	if !errors.Is(err, setup.ErrWaiting) || !errors.As(err, &we) || len(we.Pending) != 2 {
		t.Fatalf("error %v, want a WaitingError with two requests", err)
	}
	for _, p := range we.Pending {
		if p.ConfirmURL != e.sb.ConfirmURL(p.RequestID) || !strings.Contains(err.Error(), p.ConfirmURL) {
			t.Errorf("pending %+v", p)
		}
	}
	if got := e.eventsOf(setup.StepApproval, setup.StatusWaiting); len(got) != 2 || got[0].ConfirmURL == "" {
		t.Errorf("approval events %+v", got)
	}
	// Again: the same requests come back, none is added.
	_, err = e.newSetup(nil).Run(context.Background(), setup.Options{})
	var we2 *setup.WaitingError
	if !errors.As(err, &we2) || !slices.Equal(requestIDs(we.Pending), requestIDs(we2.Pending)) || len(e.sb.Requests()) != 2 {
		t.Fatalf("second run: %v; requests %+v", err, e.sb.Requests())
	}
	// Status agrees, then the administrator approves and status says so.
	if _, err := e.newSetup(nil).Status(context.Background(), nil); !errors.Is(err, setup.ErrWaiting) {
		t.Errorf("status: %v", err)
	}
	for _, p := range we.Pending {
		if err := e.sb.Approve(p.RequestID); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.newSetup(nil).Status(context.Background(), []string{"payroll"})
	if err != nil || st.SystemUsers["payroll"].Status != "Accepted" || st.SystemUsers["payroll"].SystemUserID == "" {
		t.Fatalf("status after approval: %v %+v", err, st)
	}
	if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{}); err != nil {
		t.Fatal(err)
	}
	e.assertOnboarded(t, 0)
}

func requestIDs(ps []setup.Pending) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.RequestID)
	}
	return out
}

func TestRejectedNeedsNewRequest(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	e.approveOnWait(false)
	_, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, WaitOptions: fastWait})
	var re *setup.RequestEndedError
	if !errors.As(err, &re) || re.Status != "Rejected" || !strings.Contains(err.Error(), "--new-request") ||
		!strings.Contains(err.Error(), "rejected") {
		t.Fatalf("error %v, want a RequestEndedError naming --new-request", err)
	}
	if got := e.eventsOf(setup.StepApproval, setup.StatusFailed); len(got) != 1 {
		t.Errorf("failed events %+v", got)
	}
	// Without --new-request nothing new is sent.
	e.onEvent = nil
	_, err = e.newSetup(nil).Run(context.Background(), setup.Options{})
	if !errors.Is(err, setup.ErrRequestEnded) || len(e.sb.Requests()) != 1 {
		t.Fatalf("re-run: %v; requests %+v", err, e.sb.Requests())
	}
	if _, err := e.newSetup(nil).Status(context.Background(), nil); !errors.Is(err, setup.ErrRequestEnded) {
		t.Errorf("status: %v", err)
	}
	// With it: the old one is deleted, a new one approved.
	e.approveOnWait(true)
	if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, NewRequest: true, WaitOptions: fastWait}); err != nil {
		t.Fatal(err)
	}
	e.assertOnboarded(t, 1)
}

func TestTimedOutNeedsNewRequest(t *testing.T) {
	e := newEnv(t, sandbox.Options{RequestTimeout: 24 * time.Hour})
	if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{}); !errors.Is(err, setup.ErrWaiting) {
		t.Fatalf("first run: %v", err)
	}
	e.clock.Add(25 * time.Hour)
	_, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, WaitOptions: fastWait})
	var re *setup.RequestEndedError
	if !errors.As(err, &re) || !re.TimedOut || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("error %v, want a timed-out RequestEndedError", err)
	}
	st, _ := config.LoadState(e.dir)
	if !st.SystemUsers["default"].TimedOut {
		t.Errorf("state %+v", st.SystemUsers)
	}
	e.approveOnWait(true)
	if _, err := e.newSetup(nil).Run(context.Background(), setup.Options{Wait: true, NewRequest: true, WaitOptions: fastWait}); err != nil {
		t.Fatal(err)
	}
	e.assertOnboarded(t, 1)
}

func TestCancelWhileWaiting(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	e.onEvent = func(ev setup.Event) {
		if ev.Step == setup.StepApproval && ev.Detail["polls"] == "3" {
			cancel()
		}
	}
	st, err := e.newSetup(nil).Run(ctx, setup.Options{Wait: true, WaitOptions: fastWait})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if st.SystemUsers["default"].Status != "New" || st.SystemUsers["default"].RequestID == "" {
		t.Errorf("state %+v", st.SystemUsers)
	}
}

func TestExistingSystemUserIsNotRequested(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	if _, _, err := e.newSetup(nil).RegisterSystem(context.Background()); err != nil {
		t.Fatal(err)
	}
	id, err := e.sb.SeedSystemUser(e.cfg.System.ID, org, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.newSetup(nil).Run(context.Background(), setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.sb.Requests()) != 1 || st.SystemUsers["default"].SystemUserID != id {
		t.Errorf("requests %+v state %+v", e.sb.Requests(), st.SystemUsers)
	}
	if got := e.eventsOf(setup.StepRequest, setup.StatusSkipped); len(got) != 1 {
		t.Errorf("events %+v", got)
	}
}

func TestConfigChangeUpdatesSystem(t *testing.T) {
	e := newEnv(t, sandbox.Options{})
	if _, _, err := e.newSetup(nil).RegisterSystem(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.cfg.System.Rights = append(e.cfg.System.Rights, config.Right{Resource: sandbox.ResourceSkatt})
	_, res, err := e.newSetup(nil).RegisterSystem(context.Background())
	if err != nil || res.Outcome != "updated" || !slices.Equal(res.Changed, []string{"rights"}) {
		t.Fatalf("%v %+v", err, res)
	}
	if got := e.sb.Systems(); len(got) != 1 || len(got[0].Rights) != 2 || got[0].ClientIDs[0] != clientID || got[0].IsVisible {
		t.Errorf("systems %+v", got)
	}
	if _, err := e.newSetup(nil).Status(context.Background(), nil); !errors.Is(err, setup.ErrNoRequest) {
		t.Errorf("status without a request: %v", err)
	}
}
