package installer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultStopTimeout bounds how long Stop waits for the Runner to return after its context is cancelled.
const DefaultStopTimeout = 10 * time.Second

// runGroup runs a Runner in a goroutine and cancels it on stop: the service manager's Start must not
// block and its Stop must return within seconds.
type runGroup struct {
	run         Runner
	stopTimeout time.Duration

	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned
	once   sync.Once
	err    error // run's result, read after done is closed
}

func newRunGroup(run Runner, stopTimeout time.Duration) *runGroup {
	if stopTimeout <= 0 {
		stopTimeout = DefaultStopTimeout
	}
	return &runGroup{run: run, stopTimeout: stopTimeout, done: make(chan struct{})}
}

// start launches run under a context derived from parent; it returns at once.
func (g *runGroup) start(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	g.cancel = cancel
	go func() {
		defer close(g.done)
		defer func() {
			if p := recover(); p != nil {
				g.err = fmt.Errorf("the service stopped on a panic: %v", p)
			}
		}()
		g.err = g.run(ctx)
	}()
}

// stop cancels run and waits for it, at most stopTimeout. It returns run's error (a cancellation
// error from a clean stop counts as none), or a timeout error.
func (g *runGroup) stop() error {
	g.once.Do(func() { g.cancel() })
	t := time.NewTimer(g.stopTimeout)
	defer t.Stop()
	select {
	case <-g.done:
		return g.result()
	case <-t.C:
		return fmt.Errorf("%w: it did not stop within %s of being asked to", errStopSlow, g.stopTimeout)
	}
}

// errStopSlow marks a stop that did not finish within the stop timeout.
var errStopSlow = errors.New("the service stopped slowly")

// scmExitCode is the Windows service's exit code for how run ended. A failure of run's own is
// service-specific code 1, which the recovery actions (set for non-crash failures too) restart. A stop
// the service manager asked for ends with 0, even one that outlasted the stop timeout: the SCM wanted the
// service stopped, and a non-zero code would make it start the service again.
func scmExitCode(err error, asked bool) (serviceSpecific bool, code uint32) {
	if err == nil || (asked && errors.Is(err, errStopSlow)) {
		return false, 0
	}
	return true, 1
}

// result is run's error once done is closed, with context cancellation treated as a clean stop.
func (g *runGroup) result() error {
	if errors.Is(g.err, context.Canceled) {
		return nil
	}
	return g.err
}
