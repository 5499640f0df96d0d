package perf

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// TestRefreshUnderLoad is the refresh soak on an injected clock: eight callers load the agent over
// loopback without pause while the clock runs through ten minutes of 120 s Maskinporten tokens (and
// 5 min Altinn tokens), one second per step, each step only after the callers have made progress.
//
// No reply may carry an expired token (expires_in and the JWT's exp against the clock), no caller may
// wait for an upstream fetch after warm-up (the cache's Misses stay put: every refresh ran in the
// background while callers were served the cached token), and the sandbox issues about one grant per
// key per refresh interval (lifetime minus refresh-ahead = 60 s).
func TestRefreshUnderLoad(t *testing.T) {
	const (
		lifetime     = 120 * time.Second
		refreshAhead = 60 * time.Second
		soak         = 10 * time.Minute
		step         = time.Second
		workers      = 8
		perStep      = 24 // replies the callers must get between two clock steps
	)
	clk := newFakeClock()
	r := newRig(t, rigOptions{now: clk.Now, lifetime: lifetime, exchangeLife: 5 * time.Minute,
		minValidity: 10 * time.Second, refreshAhead: refreshAhead,
		// The warm-up's first grants may be slow on a loaded machine: no wait bound the test could hit.
		timeouts: agent.Timeouts{Token: time.Minute, Write: 2 * time.Minute}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	who := []string{alpha, beta, gamma}
	for _, c := range who { // warm-up: one cold miss per key
		if err := checkValid(r.token(ctx, c), clk.Now()); err != nil {
			t.Fatalf("warm-up %s: %v", c, err)
		}
	}
	warm := r.cache.Stats()
	r.sb.ResetStats()

	var served atomic.Int64
	var failMu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := who[(w+i)%len(who)]
				rp := r.token(ctx, c)
				if err := checkValid(rp, clk.Now()); err != nil {
					failMu.Lock()
					failures = append(failures, c+": "+err.Error())
					failMu.Unlock()
				}
				served.Add(1)
			}
		})
	}
	for elapsed := time.Duration(0); elapsed < soak; elapsed += step {
		target := served.Load() + perStep
		waitFor(t, "callers to make progress", 3*time.Minute, func() bool { return served.Load() >= target })
		// A background refresh has the 50 s between refresh-ahead and the minimum validity to land; on a
		// slow machine the clock must not outrun it, so each refresh started is given time to reach the
		// sandbox (one grant or one exchange each) before the clock moves on.
		waitFor(t, "background refreshes to reach the sandbox", 3*time.Minute, func() bool {
			st := r.sb.Stats()
			return r.cache.Stats().Refreshes-warm.Refreshes <= uint64(st.TokensIssued+st.Exchanges)
		})
		clk.Advance(step)
	}
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d of %d replies were not valid tokens; first: %s", len(failures), served.Load(), failures[0])
	}
	cs := r.cache.Stats()
	if cs.Misses != warm.Misses {
		t.Errorf("%d callers waited for an upstream fetch during the soak (misses %d → %d): a refresh blocked them",
			cs.Misses-warm.Misses, warm.Misses, cs.Misses)
	}
	if cs.Errors != 0 || cs.Stale != 0 {
		t.Errorf("cache saw %d failed fetches and %d stale serves, want none", cs.Errors, cs.Stale)
	}
	// A token fetched at t is refreshed from t+60 s on, or up to a quarter of the refresh-ahead
	// earlier (tokens.RefreshJitter): 10 to 13 per key in ten minutes, give or take the one in flight at
	// the end.
	longest := lifetime - refreshAhead
	shortest := longest - time.Duration(float64(refreshAhead)*tokens.RefreshJitter)
	lo, hi := int64(soak/longest)-1, int64(soak/shortest)+1
	st := r.sb.Stats()
	for _, k := range []struct {
		name string
		n    int64
	}{{"alpha", st.TokensByKey[keyAlpha]}, {"beta", st.TokensByKey[keyBeta]}} {
		if k.n < lo || k.n > hi {
			t.Errorf("key %s: %d grants in %s, want %d to %d (one per %s to %s)", k.name, k.n, soak, lo, hi,
				shortest, longest)
		}
	}
	if len(st.TokensByKey) != 2 {
		t.Errorf("grants went to %d keys, want 2: %v", len(st.TokensByKey), st.TokensByKey)
	}
	// The Altinn token lives 5 min and is refreshed 60 s ahead: one exchange per 4 min.
	if st.Exchanges < 2 || st.Exchanges > 3 {
		t.Errorf("%d exchanges in %s, want 2 or 3 (one per 4 min)", st.Exchanges, soak)
	}
	t.Logf("%d replies over %s of clock; grants alpha %d, beta %d, exchanges %d; cache %+v", served.Load(), soak,
		st.TokensByKey[keyAlpha], st.TokensByKey[keyBeta], st.Exchanges, cs)
}
