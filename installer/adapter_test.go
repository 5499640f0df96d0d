package installer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestRunGroup(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		run  Runner
		want string // "" = nil
	}{
		{"returns nil on cancel", func(ctx context.Context) error { <-ctx.Done(); return nil }, ""},
		{"returns ctx.Err on cancel", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, ""},
		{"returns a wrapped cancel", func(ctx context.Context) error {
			<-ctx.Done()
			return errors.Join(errors.New("serve"), context.Canceled)
		}, ""},
		{"fails on shutdown", func(ctx context.Context) error { <-ctx.Done(); return errBoom }, "boom"},
		{"panics", func(ctx context.Context) error { <-ctx.Done(); panic("bad state") }, "panic: bad state"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newRunGroup(tc.run, time.Second)
				g.start(context.Background())
				err := g.stop()
				if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
					t.Fatalf("stop() = %v, want %q", err, tc.want)
				}
			})
		})
	}
}

// TestRunGroupStopIsBounded: a Runner that ignores cancellation does not hold the service manager's
// Stop longer than the stop timeout.
func TestRunGroupStopIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		g := newRunGroup(func(context.Context) error { <-release; return nil }, 3*time.Second)
		g.start(context.Background())
		begin := time.Now()
		err := g.stop()
		if err == nil || !strings.Contains(err.Error(), "did not stop within 3s") {
			t.Fatalf("stop() = %v, want a timeout", err)
		}
		if waited := time.Since(begin); waited != 3*time.Second {
			t.Errorf("stop waited %s, want exactly the 3s timeout", waited)
		}
		close(release)
		<-g.done
	})
}

// TestRunGroupParentCancel: the parent context reaches the Runner.
func TestRunGroupParentCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		g := newRunGroup(func(ctx context.Context) error { <-ctx.Done(); return nil }, time.Second)
		g.start(ctx)
		cancel()
		<-g.done
		if err := g.result(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSCMExitCode: a stop the service manager asked for exits 0 even when it outlasted the stop timeout
// (a non-zero code would make the recovery actions start the service again); run's own failure is
// service-specific code 1, which they restart.
func TestSCMExitCode(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	g := newRunGroup(func(ctx context.Context) error { <-ctx.Done(); <-release; return nil }, 10*time.Millisecond)
	g.start(context.Background())
	slow := g.stop()
	if !errors.Is(slow, errStopSlow) {
		t.Fatalf("a run that outlasts the stop timeout: %v", slow)
	}
	failed := errors.New("config does not load")
	for _, tc := range []struct {
		name     string
		err      error
		asked    bool
		specific bool
		code     uint32
	}{
		{"clean stop", nil, true, false, 0},
		{"slow stop the SCM asked for", slow, true, false, 0},
		{"run failed on its own", failed, false, true, 1},
		{"run failed while stopping", failed, true, true, 1},
		{"slow stop nobody asked for", slow, false, true, 1},
	} {
		if s, c := scmExitCode(tc.err, tc.asked); s != tc.specific || c != tc.code {
			t.Errorf("%s: (%v, %d), want (%v, %d)", tc.name, s, c, tc.specific, tc.code)
		}
	}
}
