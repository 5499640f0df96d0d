package perf

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// hammer makes workers callers of caller ask the agent back to back until stop closes; each request
// gives up after its timeout. ok counts 200 replies; first200 receives the time of the first one.
func hammer(r *rig, caller string, workers int, stop <-chan struct{}, ok *atomic.Int64, first200 chan<- time.Time) *sync.WaitGroup {
	var wg sync.WaitGroup
	var once sync.Once
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				rp := r.token(ctx, caller)
				cancel()
				if rp.status == http.StatusOK {
					ok.Add(1)
					once.Do(func() { first200 <- time.Now() })
				} else {
					time.Sleep(10 * time.Millisecond) // a caller honouring nothing, retrying at once
				}
			}
		})
	}
	return &wg
}

// TestOutageRetryStorm is the retry-storm drill of issue 15 on a real clock, with the product's retry
// policy: Maskinporten closes every connection without a reply while 8 callers ask for the same key
// without pause. The agent's upstream attempts for the key stay bounded (the first fetch's retries, then
// single attempts paced by a shared, jittered backoff capped at 2 s), and the drill reports them per
// key per minute. Before the fix it made ~170 a minute (issue 15: 98 in 35 s).
func TestOutageRetryStorm(t *testing.T) {
	r := newRig(t, rigOptions{timeouts: agent.Timeouts{Write: 3 * time.Second, Token: 500 * time.Millisecond}})
	r.sb.Inject(sandbox.TargetMaskinporten, sandbox.Fault{Reset: true})
	r.sb.ResetStats()
	const window = 20 * time.Second
	stop := make(chan struct{})
	var ok atomic.Int64
	wg := hammer(r, alpha, 8, stop, &ok, make(chan time.Time, 1))
	time.Sleep(window)
	close(stop)
	wg.Wait()
	n := r.sb.Stats().TokenRequests
	perMinute := float64(n) * float64(time.Minute) / float64(window)
	t.Logf("retry storm (connection closed without reply, 8 callers without pause, %s): %d upstream attempts "+
		"for one key = %.0f per key per minute", window, n, perMinute)
	// First fetch: 4 attempts; then ≥ 125 ms, 250 ms, 500 ms, then ≥ 1 s apart: at most ~25 in 20 s.
	if n > 35 {
		t.Errorf("%d upstream attempts in %s for one key, want at most 35 (paced)", n, window)
	}
	if ok.Load() != 0 {
		t.Errorf("%d tokens while every upstream connection was reset", ok.Load())
	}
	if m := r.upstreamMaxInFlight.Load(); m > 1 {
		t.Errorf("%d upstream attempts at once for one key, want 1", m)
	}
}

// TestOutageHangRecovery is the hang drill of issue 15 on a real clock, with the product's timeouts
// (response header 10 s, 15 s per attempt): Maskinporten accepts requests and never answers for 3 s
// while callers keep asking, then comes back. The drill reports how long after the upstream came back
// the first token was served (target ≤ 2 s; hedged attempts, each bounded to 1.5 s, take over from the
// stuck shared fetch). The bound here is generous (a shared machine); before the fix the stuck
// attempt held every caller until its 10 s header timeout, 7 s after the upstream came back.
func TestOutageHangRecovery(t *testing.T) {
	r := newRig(t, rigOptions{timeouts: agent.Timeouts{Write: 3 * time.Second, Token: 500 * time.Millisecond}})
	r.sb.Inject(sandbox.TargetMaskinporten, sandbox.Fault{Delay: time.Hour})
	stop := make(chan struct{})
	var ok atomic.Int64
	first := make(chan time.Time, 1)
	wg := hammer(r, alpha, 4, stop, &ok, first)
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(3 * time.Second)
	if ok.Load() != 0 {
		t.Fatal("a token while Maskinporten hung")
	}
	r.sb.ClearFaults()
	cleared := time.Now()
	select {
	case at := <-first:
		recovery := at.Sub(cleared)
		t.Logf("hang recovery: first token %.2f s after Maskinporten came back (%d hedged attempts)",
			recovery.Seconds(), r.cache.Stats().Hedges)
		if recovery > 5*time.Second {
			t.Errorf("first token %s after the upstream came back, want well under the 10 s header timeout", recovery)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no token within 15 s after Maskinporten came back")
	}
}
