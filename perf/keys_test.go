package perf

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/agent"
)

// BenchmarkKeys is the agent with 1, 10, 100 and 1000 cache keys (system users of one caller, one
// key each), over loopback HTTP against the sandbox on an injected clock. It reports:
//   - B/key: heap held per key once every key has a token (agent, cache, and the sandbox's record of
//     the grant's jti, all in this process);
//   - steady-p50-µs, steady-p99-µs, steady-req/s: 16 callers round-robin over the keys, clock stopped;
//   - refresh-p99-µs, refresh-req/s: the same while the clock runs 65 s (1 s per 100 ms), so every key
//     is refreshed once in the background (real grants: signed JWTs, the sandbox's RSA signatures);
//   - grants/key in that run (1: one refresh per key) and misses (callers that waited for a fetch: 0).
//
// Run: go test -run '^$' -bench Keys -benchtime 1x ./perf
func BenchmarkKeys(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run("keys="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				benchKeys(b, n)
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// timer is a channel closed after d.
func timer(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}

func benchKeys(b *testing.B, n int) {
	clk := newFakeClock()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := newRig(b, rigOptions{now: clk.Now, lifetime: 120 * time.Second, refreshAhead: 60 * time.Second,
		minValidity: 10 * time.Second, systemUsers: n, timeouts: agent.Timeouts{Token: time.Minute, Write: 2 * time.Minute}})
	var rigOnly runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&rigOnly)
	ctx := context.Background()
	sus := make([]string, n)
	for i := range sus {
		sus[i] = "su-" + strconv.Itoa(i)
		if err := checkValid(r.tokenFor(ctx, many, sus[i]), clk.Now()); err != nil {
			b.Fatalf("warm-up of %s: %v", sus[i], err)
		}
	}
	var warm runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&warm)
	b.ReportMetric(float64(int64(warm.HeapAlloc)-int64(rigOnly.HeapAlloc))/float64(n), "B/key")

	// load runs 16 callers round-robin over the keys until done is closed and returns their latencies
	// and req/s.
	load := func(done <-chan struct{}) (latencies []time.Duration, rps float64) {
		var mu sync.Mutex
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range 16 {
			wg.Go(func() {
				var mine []time.Duration
				for {
					select {
					case <-done:
						mu.Lock()
						latencies = append(latencies, mine...)
						mu.Unlock()
						return
					default:
					}
					su := sus[int(next.Add(1))%n]
					t0 := time.Now()
					rp := r.tokenFor(ctx, many, su)
					mine = append(mine, time.Since(t0))
					if err := checkValid(rp, clk.Now()); err != nil {
						b.Errorf("%s: %v", su, err)
						return
					}
				}
			})
		}
		wg.Wait()
		slices.Sort(latencies)
		return latencies, float64(len(latencies)) / time.Since(start).Seconds()
	}
	pct := func(l []time.Duration, p float64) float64 {
		if len(l) == 0 {
			return 0
		}
		return float64(l[min(len(l)-1, int(float64(len(l))*p/100))].Microseconds())
	}

	steady, rps := load(timer(3 * time.Second))
	b.ReportMetric(pct(steady, 50), "steady-p50-µs")
	b.ReportMetric(pct(steady, 99), "steady-p99-µs")
	b.ReportMetric(rps, "steady-req/s")

	grantsBefore, missesBefore := r.sb.Stats().TokenRequests, r.cache.Stats().Misses
	ticked := make(chan struct{})
	go func() { // the clock runs 65 s, 1 s per 100 ms: past every key's refresh-ahead point (45–60 s)
		defer close(ticked)
		for range 65 {
			time.Sleep(100 * time.Millisecond)
			clk.Advance(time.Second)
		}
	}()
	refreshing, rps := load(ticked)
	for _, su := range sus { // a key nobody asked for since its refresh point starts its refresh now
		if err := checkValid(r.tokenFor(ctx, many, su), clk.Now()); err != nil {
			b.Fatalf("%s after the clock ran: %v", su, err)
		}
	}
	waitFor(b, "the refreshes to finish", 5*time.Minute, func() bool {
		return r.sb.Stats().TokenRequests-grantsBefore >= int64(n)
	})
	b.ReportMetric(pct(refreshing, 99), "refresh-p99-µs")
	b.ReportMetric(rps, "refresh-req/s")
	b.ReportMetric(float64(r.sb.Stats().TokenRequests-grantsBefore)/float64(n), "grants/key")
	b.ReportMetric(float64(r.cache.Stats().Misses-missesBefore), "misses")
}
