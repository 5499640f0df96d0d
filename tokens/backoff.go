package tokens

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Failure pacing per cache key (security.md §4; issue 15 #5, #6). Once a key's fetch fails, whatever
// the failure (an error reply, a connection closed without one, a timeout), the Cache owns the retries:
// the next fetch waits a jittered, growing backoff shared by every caller of the key (callers meanwhile
// get the last error at once, with Retry-After), and makes a single attempt. A shared fetch stuck on a
// hung upstream gets a hedged single attempt, bounded by hedgeTimeout, every hedgeAfter while callers
// wait, so service resumes soon after the upstream does.
const (
	failBackoffMin = 250 * time.Millisecond
	failBackoffMax = 2 * time.Second
	// hedgeAfter (CacheOptions.HedgeAfter's default): a shared fetch running this long, with callers
	// waiting, gets a hedged attempt; hedges start at most this often per key.
	hedgeAfter = 1500 * time.Millisecond
	// hedgeTimeout bounds a hedged attempt (connect, TLS, reply): far below the callers' timeouts.
	hedgeTimeout = 1500 * time.Millisecond
)

// failBackoff is the pause after the n-th consecutive failure (n ≥ 1): exponential from
// failBackoffMin, capped at failBackoffMax, with equal jitter (a random wait in [d/2, d]) so the
// callers of many keys do not fall into step.
func failBackoff(n int32) time.Duration {
	d := failBackoffMax
	if n >= 1 && n < 16 {
		d = min(failBackoffMin<<(n-1), failBackoffMax)
	}
	return d/2 + rand.N(d/2+1)
}

// singleAttemptKey marks a context whose upstream call must not retry on its own.
type singleAttemptKey struct{}

// withSingleAttempt marks ctx: the Client makes one attempt, the Cache paces the next.
func withSingleAttempt(ctx context.Context) context.Context {
	return context.WithValue(ctx, singleAttemptKey{}, true)
}

func singleAttempt(ctx context.Context) bool { v, _ := ctx.Value(singleAttemptKey{}).(bool); return v }

// backoffError is the last failure of a key, answered without an upstream call until the key's next
// fetch may start.
type backoffError struct {
	err  error
	wait time.Duration
}

func (e *backoffError) Error() string {
	return e.err.Error() + " (the agent paces its retries: next upstream attempt in " +
		e.wait.Round(time.Millisecond).String() + ")"
}

func (e *backoffError) Unwrap() error { return e.err }

// pacedError returns err for a caller answered during a backoff of wait: as an *Error (a copy of the
// upstream's, or a temporary one) whose RetryAfter is at least wait, so the agent's Retry-After says
// when to come back.
func pacedError(err error, wait time.Duration) error {
	var ue *Error
	if errors.As(err, &ue) {
		cp := *ue
		cp.RetryAfter = max(cp.RetryAfter, wait)
		return &cp
	}
	return &Error{Op: opToken, Temporary: true, RetryAfter: wait, Err: &backoffError{err: err, wait: wait}}
}

// backingOff returns the key's last error while its backoff runs, else nil.
func (c *Cache) backingOff(e *entry) error {
	next := e.nextFetch.Load()
	if next == 0 {
		return nil
	}
	wait := time.Duration(next - c.now().UnixNano())
	if wait <= 0 {
		return nil
	}
	p := e.lastErr.Load()
	if p == nil {
		return nil
	}
	return pacedError(*p, wait)
}

// failed records a failed fetch of e: the next may start after a backoff.
func (c *Cache) failed(e *entry, err error) {
	n := e.failures.Add(1)
	e.lastErr.Store(&err)
	e.nextFetch.Store(c.now().Add(failBackoff(n)).UnixNano())
}

// succeeded clears e's backoff.
func (c *Cache) succeeded(e *entry) {
	e.failures.Store(0)
	e.nextFetch.Store(0)
	e.lastErr.Store(nil)
}

// hedged wakes the callers waiting on e's stuck shared fetch after a hedged attempt stored a token.
// (A shared fetch's own callers get its result through the single flight, so that a caller never
// returns while the flight it joined could still be joined by the next.)
func (e *entry) hedged() {
	ch := make(chan struct{})
	if old := e.stored.Swap(&ch); old != nil {
		close(*old)
	}
}

// storedChan is closed when a hedged attempt stores a token in e.
func (e *entry) storedChan() <-chan struct{} {
	for {
		if p := e.stored.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		e.stored.CompareAndSwap(nil, &ch)
	}
}

// maybeHedge starts a hedged single attempt for e when its shared fetch has run longer than hedgeAfter,
// no hedge runs, and none started within hedgeAfter. It runs detached, bounded by hedgeTimeout; a token
// it gets is stored and wakes every waiting caller.
func (c *Cache) maybeHedge(parent context.Context, e *entry) {
	started := e.started.Load()
	now := time.Now().UnixNano()
	if started == 0 || now-started < int64(c.hedgeAfter) || now-e.lastHedge.Load() < int64(c.hedgeAfter) ||
		!e.hedging.CompareAndSwap(false, true) {
		return
	}
	e.lastHedge.Store(now)
	c.hedges.Add(1)
	c.fetches.Add(1)
	e.fetching.Add(1)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer e.hedging.Store(false)
		defer e.fetching.Add(-1)
		ctx, cancel := context.WithTimeout(withSingleAttempt(context.WithoutCancel(parent)), hedgeTimeout)
		defer cancel()
		sent := c.now()
		before := e.state.Load()
		tok, err := c.upstream(ctx, e.req)
		if err != nil {
			c.errs.Add(1)
			return
		}
		c.store(e, tok, sent, before)
		e.hedged()
	}()
}
