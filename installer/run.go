//go:build !windows

package installer

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/kardianos/service"
)

// program is the kardianos Interface around a runGroup.
type program struct {
	parent context.Context
	g      *runGroup
}

func (p *program) Start(service.Service) error { p.g.start(p.parent); return nil }
func (p *program) Stop(service.Service) error  { return p.g.stop() }

// RunService runs run the way the service manager expects, and returns when it is done: run starts in
// a goroutine, SIGTERM or SIGINT (systemd's and launchd's stop), the end of ctx, or run returning on its
// own ends the wait, and then run's context is cancelled and it gets DefaultStopTimeout to return. The
// result is run's error (nil after a clean stop), so the process exits non-zero only on a real failure
// and Restart=on-failure restarts it. On Windows RunService speaks the SCM protocol instead.
func RunService(ctx context.Context, o Options, run Runner) error {
	o = o.withDefaults(runtime.GOOS)
	g := newRunGroup(run, DefaultStopTimeout)
	p := &program{parent: ctx, g: g}
	// Listen before starting run, so a stop that comes early is not the signal's default action.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sig)
	cfg := &service.Config{
		Name:        o.Name,
		DisplayName: o.DisplayName,
		Option: service.KeyValue{"RunWait": func() {
			select {
			case <-sig:
			case <-ctx.Done():
			case <-g.done:
			}
		}},
	}
	s, err := newRunService(p, cfg)
	if err != nil {
		return fmt.Errorf("set up the service run loop: %w", err)
	}
	return s.Run()
}

// newRunService picks kardianos' systemd backend on Linux whatever its detection says (it looks for
// systemd as PID 1, which is irrelevant to running), and the detected one elsewhere.
func newRunService(p service.Interface, cfg *service.Config) (service.Service, error) {
	if runtime.GOOS == "linux" {
		for _, sys := range service.AvailableSystems() {
			if sys.String() == "linux-systemd" {
				return sys.New(p, cfg)
			}
		}
	}
	return service.New(p, cfg)
}
