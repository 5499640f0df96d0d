package main

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/systemuser-agent/systemuser-agent/setup"
)

// progress prints the wizard's events: with --json one JSON object per line on stdout; else one line
// per step on stdout, the confirm URL in a box, and while waiting for approval a live line on the
// terminal (stderr) with the elapsed time and the last status, redrawn every second.
type wizardProgress struct {
	mu     sync.Mutex
	out    io.Writer // stdout
	live   io.Writer // stderr when it is a terminal, else nil
	asJSON bool
	now    func() time.Time

	waiting    bool
	since      time.Time
	who        string
	lastStatus string
	polls      int
	shown      bool   // the live line is on screen
	failed     string // the message of the last ✗ line printed

	stopOnce sync.Once
	stopc    chan struct{}
	done     chan struct{}
}

func newWizardProgress(e *env, asJSON bool, now func() time.Time) *wizardProgress {
	p := &wizardProgress{out: e.stdout, asJSON: asJSON, now: now, stopc: make(chan struct{}), done: make(chan struct{})}
	if terminalFd(e.stderr) >= 0 && !asJSON {
		p.live = e.stderr
	}
	go p.tick()
	return p
}

// tick redraws the live line every second until stop.
func (p *wizardProgress) tick() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stopc:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawLive()
			p.mu.Unlock()
		}
	}
}

// stop ends the ticker and clears the live line.
func (p *wizardProgress) stop() {
	p.stopOnce.Do(func() {
		close(p.stopc)
		<-p.done
		p.mu.Lock()
		p.clearLive()
		p.mu.Unlock()
	})
}

// event prints one event. It is safe for concurrent use.
func (p *wizardProgress) event(ev setup.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.asJSON {
		printEventJSON(p.out, ev)
		return
	}
	if ev.Step == setup.StepApproval && ev.Status == setup.StatusWaiting {
		p.approvalWaiting(ev)
		return
	}
	if ev.Status == setup.StatusStart {
		return // the result line follows
	}
	if ev.Step == setup.StepApproval {
		p.waiting = false
	}
	p.clearLive()
	mark := map[string]string{setup.StatusDone: "✓", setup.StatusSkipped: "-", setup.StatusFailed: "✗", setup.StatusWaiting: "…"}[ev.Status]
	fmt.Fprintf(p.out, "%s %-18s %s\n", cmp.Or(mark, "•"), ev.Who(), ev.Message)
	p.failed = map[bool]string{true: ev.Message, false: p.failed}[ev.Status == setup.StatusFailed]
	if ev.Step == setup.StepRequest && ev.ConfirmURL != "" && ev.Status == setup.StatusWaiting {
		fmt.Fprintf(p.out, "  %-18s approve at: %s\n", "", ev.ConfirmURL)
	}
}

// lastFailed is the message of the last ✗ line printed.
func (p *wizardProgress) lastFailed() string { p.mu.Lock(); defer p.mu.Unlock(); return p.failed }

// approvalWaiting shows the confirm URL prominently the first time, then keeps the live line current.
func (p *wizardProgress) approvalWaiting(ev setup.Event) {
	if ev.Detail["polls"] == "" {
		p.clearLive()
		rule := strings.Repeat("=", 78)
		what := fmt.Sprintf("system user %q (request %s)", ev.SystemUser, ev.RequestID)
		if ev.Detail["kind"] == "change" {
			what = fmt.Sprintf("a change to system user %q (change request %s: %s)", ev.SystemUser, ev.RequestID, ev.Detail["change"])
		}
		fmt.Fprintf(p.out, "\n%s\n  APPROVAL NEEDED for %s\n", rule, what)
		fmt.Fprintf(p.out, "  An administrator of the organisation opens this link, logs in to Altinn and approves:\n\n")
		fmt.Fprintf(p.out, "    %s\n\n", ev.ConfirmURL)
		if ev.Detail["wait"] == "no" {
			fmt.Fprintf(p.out, "  Not waiting (--no-wait): run `agent request wait` or `agent setup` again after the approval.\n%s\n", rule)
			return
		}
		fmt.Fprintf(p.out, "  Waiting for the answer. Ctrl-C stops waiting; run `agent setup` again to resume.\n%s\n", rule)
		p.waiting, p.since, p.who, p.lastStatus, p.polls = true, p.now(), ev.SystemUser, "New", 0
		p.drawLive()
		return
	}
	if !p.waiting {
		p.waiting, p.since, p.who = true, p.now(), ev.SystemUser
	}
	status := ev.Detail["status"]
	changed := status != p.lastStatus
	p.lastStatus = status
	fmt.Sscan(ev.Detail["polls"], &p.polls)
	if p.live != nil {
		p.drawLive()
	} else if changed {
		fmt.Fprintf(p.out, "  approval %s: status %s after %s\n", p.who, status, p.elapsed())
	}
}

func (p *wizardProgress) elapsed() string {
	return p.now().Sub(p.since).Truncate(time.Second).String()
}

// drawLive redraws the live line (terminal only); p.mu is held.
func (p *wizardProgress) drawLive() {
	if p.live == nil || !p.waiting {
		return
	}
	fmt.Fprintf(p.live, "\r\033[K  waiting for approval of %q: %s elapsed, last status %s (%d checks)", p.who, p.elapsed(), p.lastStatus, p.polls)
	p.shown = true
}

// clearLive removes the live line before other output; p.mu is held.
func (p *wizardProgress) clearLive() {
	if p.live != nil && p.shown {
		fmt.Fprint(p.live, "\r\033[K")
		p.shown = false
	}
}
