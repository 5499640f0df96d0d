package main

import (
	"context"
	"errors"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// cmdRequest is `agent request create|status|wait`: the system user request from the organisation to
// itself. create and status exit 3 while a request waits for approval; wait polls until it is answered.
func cmdRequest(ctx context.Context, e *env, args []string) error {
	verb, rest, err := subcommand(args, "create", "status", "wait")
	if err != nil {
		return err
	}
	var c common
	var user string
	var newRequest bool
	var interval, maxInterval time.Duration
	fs := newFlags(e, "request "+verb, &c)
	fs.StringVar(&user, "system-user", "", "only this system user (its name in the config); default: all")
	switch verb {
	case "create":
		fs.BoolVar(&newRequest, "new-request", false, "replace a rejected or timed-out request with a new one")
	case "wait":
		fs.BoolVar(&newRequest, "new-request", false, "replace a rejected or timed-out request with a new one")
		fs.DurationVar(&interval, "interval", 2*time.Second, "first wait between polls (grows by half each poll)")
		fs.DurationVar(&maxInterval, "max-interval", 30*time.Second, "longest wait between polls")
	}
	if err := parse(fs, rest, false); err != nil {
		return err
	}
	if interval < 0 || maxInterval < 0 {
		return usageError{"--interval and --max-interval must not be negative"}
	}
	var names []string
	if user != "" {
		names = []string{user}
	}
	s, err := openSetup(ctx, &c, e.stdout)
	if err != nil {
		return err
	}
	var st *config.State
	switch verb {
	case "create":
		st, err = s.Run(ctx, setup.Options{NewRequest: newRequest, SystemUsers: names})
	case "status": // a read: it writes no state file
		s.ReadOnly = true
		st, err = s.Status(ctx, names)
	case "wait":
		st, err = s.Status(ctx, names)
		var ended *setup.RequestEndedError
		if err == nil || errors.Is(err, setup.ErrWaiting) || (newRequest && errors.As(err, &ended)) {
			o := setup.Options{Wait: true, NewRequest: newRequest, SystemUsers: names}
			o.WaitOptions.Interval, o.WaitOptions.MaxInterval = interval, maxInterval
			st, err = s.Run(ctx, o)
		}
	}
	if st != nil {
		rep, perr := setup.NewStatusReport(s.Config, names, st, err), error(nil)
		if c.json {
			perr = printJSON(e.stdout, rep)
		} else {
			perr = rep.WriteText(e.stdout)
		}
		if perr != nil {
			return perr
		}
	}
	return exitFor(err)
}
