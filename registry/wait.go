package registry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// WaitOptions tune WaitForApproval.
type WaitOptions struct {
	// Interval is the first wait between polls; 0 means 2s.
	Interval time.Duration
	// MaxInterval caps the growing wait; 0 means 30s (never below Interval).
	MaxInterval time.Duration
	// Progress, if set, is called with every request read, final ones included, on the caller's goroutine.
	Progress func(*Request)
}

// maxPollFailures is how many polls in a row may fail transiently before WaitForApproval gives up.
const maxPollFailures = 10

// WaitForApproval polls the request until it is final (Accepted, Rejected, Denied, Timedout or
// timedOut:true; status compared case-insensitively) and returns it; the caller decides what a final
// status means. Altinn sends no Retry-After, so the wait grows by half each poll up to MaxInterval, with
// ±20% jitter, and never resets. It owns its retries: single calls are not retried inside the loop.
// Transient failures (network, 408, 429, 5xx) are retried by the loop, up to 10 in a row; any other Altinn
// error ends the wait, as does ctx.
func (c *Client) WaitForApproval(ctx context.Context, id string, o WaitOptions) (*Request, error) {
	var last *Request
	err := c.poll(ctx, "request "+id, o, func(ctx context.Context, once *Client) (bool, error) {
		r, err := once.GetRequest(ctx, id)
		if err != nil {
			return false, err
		}
		last = r
		if o.Progress != nil {
			o.Progress(r)
		}
		return r.Final(), nil
	})
	if err != nil {
		return nil, err
	}
	return last, nil
}

// poll runs step until it reports done, with the growing, jittered wait of WaitForApproval. step gets a
// copy of the client that does not retry single calls. Transient failures are retried up to
// maxPollFailures in a row; permanent ones and ctx end the wait.
func (c *Client) poll(ctx context.Context, what string, o WaitOptions, step func(context.Context, *Client) (bool, error)) error {
	interval, maxInterval := o.Interval, o.MaxInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if maxInterval <= 0 {
		maxInterval = 30 * time.Second
	}
	maxInterval = max(maxInterval, interval)
	once := *c
	once.RetryMax = -1
	failures := 0
	for {
		done, err := step(ctx, &once)
		switch {
		case err == nil:
			failures = 0
			if done {
				return nil
			}
		case ctx.Err() != nil:
			return fmt.Errorf("registry: wait for approval of %s: %w", what, ctx.Err())
		case permanent(err):
			return err
		default:
			failures++
			c.logger().WarnContext(ctx, "polling failed; trying again", "what", what,
				"failures", failures, "error", err)
			if failures >= maxPollFailures {
				return fmt.Errorf("registry: wait for approval of %s: %d polls in a row failed, the last: %w",
					what, failures, err)
			}
		}
		t := time.NewTimer(jitter(interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("registry: wait for approval of %s: %w", what, ctx.Err())
		case <-t.C:
		}
		interval = min(interval+interval/2, maxInterval)
	}
}

// permanent reports whether err is an Altinn answer that polling again will not change.
func permanent(err error) bool {
	var pe *ProblemError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Status >= 400 && pe.Status < 500 && pe.Status != 408 && pe.Status != 429
}

// jitter spreads d by ±20%.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
