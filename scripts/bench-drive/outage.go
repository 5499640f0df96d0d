package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// drillKind is one way the sandbox's Maskinporten fails.
type drillKind struct {
	name  string
	fault fault
	// bound is the most upstream token requests the agent may make in the window for keys cache keys:
	// one fetch at a time per key, its attempts spaced by the backoff (or the Retry-After, or the
	// attempt timeout).
	bound func(window time.Duration, keys int) int64
	// retryAfter is the Retry-After the failure sends: the agent honours it, so service may resume only
	// that long after the upstream is back.
	retryAfter time.Duration
}

// drillKinds are the failures of the drill. The bounds follow tokens' defaults: the first failing fetch
// of a key makes 3 retries after its first attempt (backoff from 250 ms, jitter: at least half), then the
// key's fetches are single attempts paced by a backoff of at least 125 ms, 250 ms, 500 ms, then 1 s (at
// most 2 s), shared by every caller: at most about one attempt a second per key; a 429 with
// Retry-After r is not asked again within r; a hung fetch is joined by one hedged attempt (bounded to
// 1.5 s) every 1.5 s while callers wait. Each key may have one more fetch (4 attempts) under way when
// the window starts or ends.
func drillKinds(retryAfter time.Duration) map[string]drillKind {
	perSec := func(rate float64) func(time.Duration, int) int64 {
		return func(w time.Duration, keys int) int64 { return int64(keys) * (int64(rate*w.Seconds()) + 4) }
	}
	return map[string]drillKind{
		"503": {name: "503", fault: fault{Status: 503}, bound: perSec(1.3)},
		"429": {name: "429 + Retry-After " + retryAfter.String(), fault: fault{Status: 429, RetryAfter: retryAfter.String()},
			bound: perSec(1 / retryAfter.Seconds()), retryAfter: retryAfter},
		"hang":  {name: "hang", fault: fault{Delay: "1h"}, bound: perSec(1/1.5 + 1/10.0)},
		"reset": {name: "reset", fault: fault{Reset: true}, bound: perSec(1.3)},
	}
}

// cmdOutage runs the outage drill: for each kind, with tokens cached, the sandbox's Maskinporten fails
// for --window (longer than a token lifetime) under steady load, then comes back.
func cmdOutage(ctx context.Context, args []string, out io.Writer) error {
	var c common
	fs := flag.NewFlagSet("outage", flag.ContinueOnError)
	c.bind(fs)
	kinds := fs.String("kinds", "503,429,hang,reset", "failures to drill, in order")
	window := fs.Duration("window", 30*time.Second, "how long each failure lasts (longer than a token lifetime)")
	lifetime := fs.Duration("lifetime", 20*time.Second, "sandbox token lifetime (for the report)")
	minValidity := fs.Duration("min-validity", 5*time.Second, "the agent's tokens.min_validity")
	retryAfter := fs.Duration("retry-after", 3*time.Second, "Retry-After of the 429 failure")
	requestTimeout := fs.Duration("request-timeout", 10*time.Second, "the agent's write timeout: no caller may wait longer")
	rate := fs.Int("rate", 100, "requests per second")
	workers := fs.Int("workers", 16, "concurrent callers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.load(); err != nil {
		return err
	}
	if c.admin == "" || *rate < *workers {
		return errors.New("--admin is required and --rate must be at least --workers")
	}
	if *window <= *lifetime {
		fmt.Fprintf(out, "note: --window %s is not longer than the token lifetime %s\n", *window, *lifetime)
	}
	all := drillKinds(*retryAfter)
	d := &drill{c: c, adm: newAdmin(c.admin), cl: newCallerClient(c.agent, c.secret, *workers), rate: *rate,
		workers: *workers, window: *window, minValidity: *minValidity, requestTimeout: *requestTimeout}
	fmt.Fprintf(out, "outage drill: Maskinporten fails for %s per kind (tokens live %s; min validity %s), %d req/s from %d callers\n",
		*window, *lifetime, *minValidity, *rate, *workers)
	for _, name := range strings.Split(*kinds, ",") {
		k, ok := all[name]
		if !ok {
			return fmt.Errorf("unknown kind %q: use 503, 429, hang, reset", name)
		}
		if err := d.run(ctx, k, out); err != nil {
			return err
		}
	}
	return nil
}

// drill runs one kind after another against the same agent.
type drill struct {
	c                                   common
	adm                                 *admin
	cl                                  *callerClient
	rate, workers                       int
	window, minValidity, requestTimeout time.Duration
}

// load sends steady load until stop is closed and returns every result.
func (d *drill) load(ctx context.Context, stop <-chan struct{}) []result {
	var mu sync.Mutex
	var out []result
	tick := time.Duration(int64(time.Second) * int64(d.workers) / int64(d.rate))
	var wg sync.WaitGroup
	for w := range d.workers {
		wg.Go(func() {
			next := time.Now().Add(tick * time.Duration(w) / time.Duration(d.workers))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(tick)
				rctx, cancel := context.WithTimeout(ctx, d.requestTimeout+5*time.Second)
				r := d.cl.token(rctx, d.c.ids[(w+i)%len(d.c.ids)])
				cancel()
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// run drills one kind.
func (d *drill) run(ctx context.Context, k drillKind, out io.Writer) error {
	if err := d.ready(ctx); err != nil {
		return err
	}
	if err := d.adm.resetStats(ctx); err != nil {
		return err
	}
	stop := make(chan struct{})
	var results []result
	loaded := make(chan struct{})
	go func() { results = d.load(ctx, stop); close(loaded) }()
	t0 := time.Now()
	if err := d.adm.inject(ctx, k.fault); err != nil {
		close(stop)
		return err
	}
	sleepCtx(ctx, d.window)
	st, err := d.adm.stats(ctx)
	if err != nil {
		close(stop)
		return err
	}
	if err := d.adm.clear(ctx); err != nil {
		close(stop)
		return err
	}
	tc := time.Now()
	// Keep loading until a caller gets a new token after the upstream came back (at most 30 s), then 1 s more.
	deadline := tc.Add(30 * time.Second)
	for time.Now().Before(deadline) && !d.resumed(ctx, tc) {
		sleepCtx(ctx, 50*time.Millisecond)
	}
	sleepCtx(ctx, time.Second)
	close(stop)
	<-loaded
	d.report(out, k, results, st, t0, tc)
	return ctx.Err()
}

// ready waits until the agent serves a valid token for every caller, so every key is cached (bounded).
func (d *drill) ready(ctx context.Context) error {
	for _, id := range d.c.ids {
		ok := false
		for i := 0; i < 300 && !ok; i++ {
			if r := d.cl.token(ctx, id); r.valid(time.Now()) == nil {
				ok = true
			} else {
				sleepCtx(ctx, 100*time.Millisecond)
			}
		}
		if !ok {
			return fmt.Errorf("the agent serves %s no token before the drill; is the sandbox up?", id)
		}
	}
	return nil
}

// resumed asks once, outside the load, whether a token minted after tc is served.
func (d *drill) resumed(ctx context.Context, tc time.Time) bool {
	r := d.cl.token(ctx, d.c.ids[0])
	return r.valid(time.Now()) == nil && issuedAfter(r.token, tc)
}

// issuedAfter reports whether the token's iat is at or after t (to the second).
func issuedAfter(tok string, t time.Time) bool {
	iat, err := jwtClaimTime(tok, "iat")
	return err == nil && !iat.Before(t.Truncate(time.Second))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
