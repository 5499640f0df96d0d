package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// soakWorker is what one load worker saw.
type soakWorker struct {
	replies []reply
	fails   []string
}

// reply is the part of a result the soak keeps: millions of them fit in a few MiB.
type reply struct {
	sent    int64 // UnixNano
	latency time.Duration
}

// cmdSoak puts steady load on the agent (a fixed request rate, spread over the callers) for a duration
// long enough for many token refreshes, and checks every reply: a valid, unexpired token (expires_in
// and the JWT's exp), no caller waiting on a refresh, about one upstream grant per key per refresh
// interval.
func cmdSoak(ctx context.Context, args []string, out io.Writer) error {
	var c common
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	c.bind(fs)
	dur := fs.Duration("duration", 10*time.Minute, "how long to load the agent")
	rate := fs.Int("rate", 1000, "requests per second, all callers together; 0: closed loop (as fast as replies come)")
	workers := fs.Int("workers", 8, "concurrent callers")
	steadyP99 := fs.Duration("steady-p99", 0, "the agent's p99 under steady wrk load (50 connections), to hold the soak's max latency against")
	interval := fs.Duration("refresh-interval", 30*time.Second,
		"expected time between refreshes of one key: token lifetime minus min(refresh_ahead, lifetime/2)")
	jitter := fs.Duration("refresh-jitter", 0,
		"how much earlier than the interval a refresh may come: refresh-ahead × tokens.RefreshJitter (the cache's spread)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.load(); err != nil {
		return err
	}
	if c.admin == "" || *workers < 1 || (*rate != 0 && *rate < *workers) {
		return errors.New("--admin is required, and --rate must be 0 (closed loop) or at least --workers ≥ 1")
	}
	adm := newAdmin(c.admin)
	cl := newCallerClient(c.agent, c.secret, *workers)
	for _, id := range c.ids { // warm every key so the soak starts from a cached token
		if r := cl.token(ctx, id); r.valid(time.Now()) != nil {
			return fmt.Errorf("warm-up as %s: %v", id, r.valid(time.Now()))
		}
	}
	if err := adm.resetStats(ctx); err != nil {
		return err
	}
	before, err := readCache(ctx, c.agent, "0.001")
	if err != nil {
		return err
	}

	ws := make([]soakWorker, *workers)
	seen := &tokenChanges{last: map[string]string{}}
	var tick time.Duration // 0: closed loop, each caller asks again as soon as it has its reply
	if *rate > 0 {
		tick = time.Duration(int64(time.Second) * int64(*workers) / int64(*rate))
	}
	end := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for w := range ws {
		wg.Go(func() {
			next := time.Now().Add(tick * time.Duration(w) / time.Duration(*workers))
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				time.Sleep(time.Until(next))
				next = next.Add(tick)
				id := c.ids[(w+i)%len(c.ids)]
				rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				r := cl.token(rctx, id)
				cancel()
				if err := r.valid(time.Now()); err != nil {
					ws[w].fails = append(ws[w].fails, id+": "+err.Error())
				} else {
					seen.note(id, r.token, r.sent.Add(r.latency))
				}
				ws[w].replies = append(ws[w].replies, reply{sent: r.sent.UnixNano(), latency: r.latency})
			}
		})
	}
	go progress(ctx, *dur, end)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}

	st, err := adm.stats(ctx)
	if err != nil {
		return err
	}
	after, err := readCache(ctx, c.agent, "0.001")
	if err != nil {
		return err
	}
	return soakReport(out, soakInput{ws: ws, changes: seen.at, dur: *dur, rate: *rate, workers: *workers,
		interval: *interval, jitter: *jitter, st: st, misses: int64(after.misses - before.misses), slow: int64(after.slow - before.slow),
		served: int64(after.served - before.served), keys: len(c.ids), steadyP99: *steadyP99})
}

// tokenChanges records when each caller first saw a new token: the refreshes as callers see them.
type tokenChanges struct {
	mu   sync.Mutex
	last map[string]string
	at   []time.Time
}

func (t *tokenChanges) note(id, tok string, when time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.last[id]; ok && prev != tok {
		t.at = append(t.at, when)
	}
	t.last[id] = tok
}

// progress prints a line per minute on stderr, so a long soak shows it is alive.
func progress(ctx context.Context, dur time.Duration, end time.Time) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if now.After(end) {
				return
			}
			fmt.Fprintf(os.Stderr, "  soak: %s of %s\n", (dur - time.Until(end)).Round(time.Second), dur)
		}
	}
}

type soakInput struct {
	ws                    []soakWorker
	changes               []time.Time
	dur, interval, jitter time.Duration
	steadyP99             time.Duration // from wrk; 0 when not given
	rate, workers, keys   int
	st                    sandboxStats
	misses, slow, served  int64 // cache misses, token source > 1 ms, token requests: agent /metrics
}

// soakReport prints the soak's findings with verdicts.
func soakReport(out io.Writer, in soakInput) error {
	var all, steady, near latencies
	var fails []string
	for _, w := range in.ws {
		fails = append(fails, w.fails...)
		for _, r := range w.replies {
			all = append(all, r.latency)
			if nearAny(r, in.changes, 2*time.Second) {
				near = append(near, r.latency)
			} else {
				steady = append(steady, r.latency)
			}
		}
	}
	expired := 0
	for _, f := range fails {
		if strings.Contains(f, "expired") || strings.Contains(f, "expires_in") {
			expired++
		}
	}
	grants := in.st.grants()
	lo, hi := int64(in.dur/in.interval)-1, int64(in.dur/(in.interval-in.jitter))+1
	grantsOK := len(grants) == in.keys
	var per []string
	for s, n := range grants {
		per = append(per, fmt.Sprintf("%q=%d", s, n))
		grantsOK = grantsOK && n >= lo && n <= hi
	}
	sort.Strings(per)
	p99 := steady.pct(99)
	load := fmt.Sprintf("%d req/s", in.rate)
	if in.rate == 0 {
		load = fmt.Sprintf("closed loop (%.0f req/s)", float64(len(all))/in.dur.Seconds())
	}
	fmt.Fprintf(out, "soak: %s at %s from %d callers over %d cache keys (sandbox tokens refreshed every %s)\n",
		in.dur, load, in.workers, in.keys, in.interval)
	fmt.Fprintf(out, "  replies: %d, failures: %d, expired tokens served: %d\n", len(all), len(fails), expired)
	if len(fails) > 0 {
		fmt.Fprintf(out, "  first failure: %s\n", fails[0])
	}
	fmt.Fprintf(out, "  refreshes seen by callers: %d; upstream grants per key (sandbox): %s (want %d to %d each)\n",
		len(in.changes), strings.Join(per, ", "), lo, hi)
	fmt.Fprintf(out, "  latency, steady: p50 %s  p99 %s  p99.9 %s  max %s\n", ms(steady.pct(50)), ms(p99),
		ms(steady.pct(99.9)), ms(steady.max()))
	fmt.Fprintf(out, "  latency within 2 s of a refresh (%d replies): p50 %s  p99 %s  max %s\n", len(near),
		ms(near.pct(50)), ms(near.pct(99)), ms(near.max()))
	fmt.Fprintf(out, "  token requests that waited for an upstream fetch (agent /metrics, token cache misses): %d of %d\n",
		in.misses, in.served)
	fmt.Fprintf(out, "  token requests that waited > 1 ms for the token source (agent /metrics; a cache hit observes 0): %d\n", in.slow)
	fmt.Fprintf(out, "  zero expired tokens served: %s\n", verdict(expired == 0 && len(fails) == 0))
	fmt.Fprintf(out, "  zero callers blocked on a refresh (no cache miss during the soak): %s\n", verdict(in.misses == 0))
	if in.steadyP99 > 0 {
		fmt.Fprintf(out, "  max latency %s within 2× the steady p99 under wrk load (%s): %s\n", ms(all.max()),
			ms(2*in.steadyP99), verdict(all.max() <= 2*in.steadyP99))
	}
	fmt.Fprintf(out, "  strict reading: max latency near refreshes %s within 2× this soak's p99 away from them (%s): %s\n",
		ms(near.max()), ms(2*p99), verdict(near.max() <= 2*p99))
	fmt.Fprintf(out, "  upstream grants ≈ one per key per refresh interval: %s\n", verdict(grantsOK))
	return nil
}

// nearAny reports whether r was in flight within d of any of the times.
func nearAny(r reply, times []time.Time, d time.Duration) bool {
	from := time.Unix(0, r.sent)
	to := from.Add(r.latency)
	for _, t := range times {
		if !to.Before(t.Add(-d)) && !from.After(t.Add(d/4)) {
			return true
		}
	}
	return false
}
