package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/systemuser-agent/systemuser-agent/setup"
)

// openSetup loads the config named by c and wires a Setup for it, printing events to w.
func openSetup(ctx context.Context, c *common, w io.Writer) (*setup.Setup, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	ks, err := openKeyStore(cfg)
	if err != nil {
		return nil, err
	}
	src, err := setup.TokenSource(ctx, cfg, ks)
	if err != nil {
		return nil, err
	}
	return setup.New(cfg, stateDirOf(c), ks, src, nil, printEvents(w, c.json))
}

// printEvents returns an event sink: one JSON object per line with asJSON, else one line per step for
// people, with the confirm URL on its own line. Repeated polls that change nothing are not printed.
func printEvents(w io.Writer, asJSON bool) func(setup.Event) {
	var mu sync.Mutex
	lastPoll := map[string]string{}
	return func(ev setup.Event) {
		mu.Lock()
		defer mu.Unlock()
		if asJSON {
			printEventJSON(w, ev)
			return
		}
		if ev.Step == setup.StepApproval && ev.Detail["polls"] != "" {
			now := ev.Detail["status"] + "/" + ev.Detail["escalated"]
			if lastPoll[ev.SystemUser] == now {
				return
			}
			lastPoll[ev.SystemUser] = now
		}
		if ev.Status == setup.StatusStart {
			return // the result line follows
		}
		fmt.Fprintf(w, "%-18s %-8s %s\n", ev.Who(), ev.Status, ev.Message)
		if ev.ConfirmURL != "" && ev.Status == setup.StatusWaiting && ev.Detail["polls"] == "" {
			fmt.Fprintf(w, "%-18s %-8s approve at: %s\n", "", "", ev.ConfirmURL)
		}
	}
}

// exitFor maps an onboarding error to the CLI's exit codes: 3 while a request waits for approval.
func exitFor(err error) error {
	if errors.Is(err, setup.ErrWaiting) {
		return exitCodeError{code: exitWaiting, err: err}
	}
	return err
}

// printEventJSON writes ev as one line of JSON; confirm URLs keep their '&'.
func printEventJSON(w io.Writer, ev setup.Event) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(ev)
}
