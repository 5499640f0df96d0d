package installer

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"

	"golang.org/x/sys/windows/svc"
)

// RunService runs run under the Windows SCM: Running once run has started, Stop and Shutdown cancel
// its context and wait for it (at most DefaultStopTimeout), and when run fails on its own the service
// stops with exit code 1, which the SCM's recovery actions (set for non-crash failures too) restart.
// kardianos' SCM loop is not used here because it cannot end the service when the program fails.
// Started from a terminal, it runs run until Ctrl+C or the end of ctx.
func RunService(ctx context.Context, o Options, run Runner) error {
	o = o.withDefaults(runtime.GOOS)
	g := newRunGroup(run, DefaultStopTimeout)
	isService, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("tell whether the SCM started this process: %w", err)
	}
	isService = isService || wineLane && startedByWineServices() // the wine lane's build only (lane_on.go)
	if !isService {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
		g.start(ctx)
		select {
		case <-ctx.Done():
		case <-g.done:
		}
		return g.stop()
	}
	h := &scmHandler{ctx: ctx, g: g}
	if err := svc.Run(o.Name, h); err != nil {
		return fmt.Errorf("run under the service control manager: %w", err)
	}
	return h.err
}

// scmHandler is the svc.Handler around a runGroup.
type scmHandler struct {
	ctx context.Context
	g   *runGroup
	err error
}

// Execute implements svc.Handler.
func (h *scmHandler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	changes <- svc.Status{State: svc.StartPending}
	h.g.start(h.ctx)
	changes <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				changes <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				changes <- svc.Status{State: svc.StopPending, WaitHint: uint32(DefaultStopTimeout.Milliseconds())}
				return h.finish(h.g.stop(), true)
			}
		case <-h.ctx.Done():
			changes <- svc.Status{State: svc.StopPending, WaitHint: uint32(DefaultStopTimeout.Milliseconds())}
			return h.finish(h.g.stop(), true)
		case <-h.g.done:
			return h.finish(h.g.stop(), false)
		}
	}
}

// finish records err (RunService returns it; the caller reports it with ReportFailure, as the SCM drops
// stderr) and turns it into the service's exit code (scmExitCode); asked says whether the service
// manager asked for the stop.
func (h *scmHandler) finish(err error, asked bool) (bool, uint32) {
	h.err = err
	return scmExitCode(err, asked)
}
