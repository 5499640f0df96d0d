package agent

import (
	"context"
	"sync"
	"time"
)

// waitBound is a token request's context with an upper bound on how long it waits for the token source
// (Timeouts.Token). The timer behind the bound starts only when something waits on Done or asks Err: a
// cache hit does neither, so the hot path pays nothing for it. A caller that has to wait for an upstream
// fetch stops at the bound and gets 503 with Retry-After (classify treats the deadline as temporary),
// while the shared fetch goes on and fills the cache: no caller hangs on a slow or hanging upstream
// beyond the server's write timeout.
type waitBound struct {
	context.Context // the request's context

	deadline time.Time
	once     sync.Once
	bounded  context.Context // made on first Done or Err; nil after stop without one
	cancel   context.CancelFunc
}

// newWaitBound bounds waits on parent to d from now (the real clock: this is a timer, not token time).
func newWaitBound(parent context.Context, d time.Duration) *waitBound {
	b := new(waitBound)
	b.init(parent, time.Now().Add(d))
	return b
}

// init makes b a fresh bound of parent at deadline (a reading of the real clock plus the bound), for a
// waitBound that lives inside the request's state.
func (b *waitBound) init(parent context.Context, deadline time.Time) {
	*b = waitBound{Context: parent, deadline: deadline}
}

// ctx is the bounded context, made on first use.
func (b *waitBound) ctx() context.Context {
	b.once.Do(func() { b.bounded, b.cancel = context.WithDeadline(b.Context, b.deadline) })
	if b.bounded == nil {
		return b.Context // stopped before anyone waited
	}
	return b.bounded
}

// Deadline is the bound, or the parent's deadline when that is sooner.
func (b *waitBound) Deadline() (time.Time, bool) {
	if d, ok := b.Context.Deadline(); ok && d.Before(b.deadline) {
		return d, true
	}
	return b.deadline, true
}

// Done is closed at the bound or when the request's context ends.
func (b *waitBound) Done() <-chan struct{} { return b.ctx().Done() }

// Err says why Done is closed.
func (b *waitBound) Err() error { return b.ctx().Err() }

// stop releases the timer, if one was started.
func (b *waitBound) stop() {
	b.once.Do(func() {})
	if b.cancel != nil {
		b.cancel()
	}
}
