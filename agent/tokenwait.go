package agent

import (
	"context"
	"sync"
	"time"
)

// waitBound is a token request's context with an upper bound on how long it waits for the token source
// (Timeouts.Token). The bound, its timer and its reading of the clock are made only when something waits
// on Done or asks Err or Deadline, and count from then: a cache hit does none of these, so the hot path
// pays nothing for it. A caller that has to wait for an upstream
// fetch stops at the bound and gets 503 with Retry-After (classify treats the deadline as temporary),
// while the shared fetch goes on and fills the cache: no caller hangs on a slow or hanging upstream
// beyond the server's write timeout.
type waitBound struct {
	context.Context // the request's context

	d       time.Duration
	once    sync.Once
	bounded context.Context // made on first Done, Err or Deadline; nil after stop without one
	cancel  context.CancelFunc
}

// newWaitBound bounds waits on parent to d (the real clock: this is a timer, not token time).
func newWaitBound(parent context.Context, d time.Duration) *waitBound {
	b := new(waitBound)
	b.init(parent, d)
	return b
}

// init makes b a fresh bound of d on parent, for a waitBound that lives inside the request's state.
func (b *waitBound) init(parent context.Context, d time.Duration) {
	*b = waitBound{Context: parent, d: d}
}

// ctx is the bounded context, made on first use.
func (b *waitBound) ctx() context.Context {
	b.once.Do(func() { b.bounded, b.cancel = context.WithTimeout(b.Context, b.d) })
	if b.bounded == nil {
		return b.Context // stopped before anyone waited
	}
	return b.bounded
}

// Deadline is the bound, or the parent's deadline when that is sooner.
func (b *waitBound) Deadline() (time.Time, bool) { return b.ctx().Deadline() }

// Done is closed at the bound or when the request's context ends.
func (b *waitBound) Done() <-chan struct{} { return b.ctx().Done() }

// Err says why Done is closed.
func (b *waitBound) Err() error { return b.ctx().Err() }

// waited reports, after stop, whether the source consulted the bound: it did not answer at once.
func (b *waitBound) waited() bool { return b.bounded != nil }

// stop releases the timer, if one was started.
func (b *waitBound) stop() {
	b.once.Do(func() {})
	if b.cancel != nil {
		b.cancel()
	}
}
