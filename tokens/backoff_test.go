package tokens

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestCacheFailurePacing is the retry-storm drill of issue 15 on the cache's clock: the upstream closes
// every connection without a reply while callers keep asking. The first failed fetch makes its retries;
// then the key's fetches are single attempts paced by a jittered backoff shared by every caller (they
// get the last error at once, temporary with a Retry-After), so upstream attempts per key per minute
// stay bounded; when the upstream is back the next fetch after the backoff succeeds and the pacing ends.
func TestCacheFailurePacing(t *testing.T) {
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	f.setAlways(reset)
	c := NewCache(testClient(t, f), CacheOptions{Now: clk.Now}) // 3 retries per call
	ctx := context.Background()
	if _, err := c.Token(ctx, sysReq); err == nil {
		t.Fatal("a token while the upstream resets every connection")
	}
	if n := f.requests(); n != 4 {
		t.Fatalf("first fetch: %d attempts, want 4 (its retries)", n)
	}
	// One simulated minute: 10 callers every 100 ms.
	const step, callers = 100 * time.Millisecond, 10
	start := f.requests()
	paced := 0
	for range int(time.Minute / step) {
		clk.Advance(step)
		for range callers {
			_, err := c.Token(ctx, sysReq)
			e := AsError(err)
			if e == nil || !e.Temporary {
				t.Fatalf("error %v, want a temporary upstream error", err)
			}
			if e.RetryAfter > 0 {
				if e.RetryAfter > failBackoffMax {
					t.Fatalf("Retry-After %s beyond the backoff cap %s", e.RetryAfter, failBackoffMax)
				}
				paced++
			}
		}
	}
	perMinute := f.requests() - start
	// Backoff ≥ failBackoffMax/2 once grown: at most one attempt a second, plus the growing start.
	if perMinute > 66 || perMinute < 20 {
		t.Errorf("%d upstream attempts in a minute for one key under %d calls, want 20..66 (paced, still probing)",
			perMinute, int(time.Minute/step)*callers)
	}
	if paced < 500 {
		t.Errorf("%d calls answered from the backoff, want most of %d", paced, int(time.Minute/step)*callers)
	}
	t.Logf("retry storm: %d upstream attempts per key per minute under %d calls/s; %d calls paced",
		perMinute, int(time.Second/step)*callers, paced)

	f.setAlways(nil)
	clk.Advance(failBackoffMax)
	if _, err := c.Token(ctx, sysReq); err != nil {
		t.Fatalf("upstream back: %v", err)
	}
	if c.Stats().Paced == 0 {
		t.Error("Stats.Paced not counted")
	}
	// Pacing ended: a later failure gets its retries again.
	f.setAlways(reset)
	before := f.requests()
	if _, err := c.Refresh(ctx, sysReq); err == nil {
		t.Fatal("refresh succeeded against a resetting upstream")
	}
	if n := f.requests() - before; n != 4 {
		t.Errorf("first failure after a success: %d attempts, want 4", n)
	}
}

// hangSource hangs every call while hung is set (until its context ends), else returns a token.
type hangSource struct {
	mu    sync.Mutex
	hung  bool
	calls int
}

func (h *hangSource) Token(ctx context.Context, r Request) (Token, error) {
	h.mu.Lock()
	h.calls++
	hung, n := h.hung, h.calls
	h.mu.Unlock()
	if hung {
		<-ctx.Done()
		return Token{}, &Error{Op: opToken, Temporary: true, Err: ctx.Err()}
	}
	return Token{AccessToken: "tok-" + string(rune('a'+n%26)), Expiry: time.Now().Add(2 * time.Minute)}, nil
}

func (h *hangSource) set(hung bool) { h.mu.Lock(); h.hung = hung; h.mu.Unlock() }

// TestCacheHangRecovery is the hang drill of issue 15 in a synctest bubble (its clock is exact): the
// upstream hangs, a caller waits on the shared fetch, which stays stuck long after the upstream clears;
// hedged attempts, each bounded, get the token within hedgeAfter+hedgeTimeout of the upstream coming
// back, and at most one hedge runs at a time.
func TestCacheHangRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &hangSource{hung: true}
		c := NewCache(src, CacheOptions{})
		type result struct {
			tok Token
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tok, err := c.Token(ctx, sysReq)
			done <- result{tok, err, time.Now()}
		}()
		time.Sleep(5 * time.Second) // a long hang: the shared fetch and every hedge so far are stuck
		src.set(false)
		cleared := time.Now()
		r := <-done
		if r.err != nil {
			t.Fatalf("no token after the hang cleared: %v", r.err)
		}
		recovery := r.at.Sub(cleared)
		if recovery > hedgeAfter+hedgeTimeout {
			t.Errorf("token %s after the hang cleared, want within %s", recovery, hedgeAfter+hedgeTimeout)
		}
		s := c.Stats()
		if s.Hedges == 0 || s.Hedges > uint64(6*time.Second/hedgeAfter)+1 {
			t.Errorf("%d hedges in a 5 s hang, want 1..%d (one per %s)", s.Hedges, 6*time.Second/hedgeAfter+1, hedgeAfter)
		}
		t.Logf("hang recovery: %s after the upstream cleared (%d hedged attempts, %d upstream calls)",
			recovery, s.Hedges, src.calls)
		time.Sleep(fetchTimeout) // the stuck shared fetch ends at its bound
		c.bg.Wait()
	})
}

// TestCacheNoHedge: with HedgeAfter negative the cache never hedges: a caller waiting 5 s on a hung
// fetch makes no second upstream call (what a drill holding the upstream on purpose relies on).
func TestCacheNoHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &hangSource{hung: true}
		c := NewCache(src, CacheOptions{HedgeAfter: -1})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := c.Token(ctx, sysReq); err == nil {
			t.Fatal("a token from a hung upstream")
		}
		src.mu.Lock()
		calls := src.calls
		src.mu.Unlock()
		if s := c.Stats(); s.Hedges != 0 || calls != 1 {
			t.Errorf("%d hedges and %d upstream calls in 5 s of hang, want 0 and 1", s.Hedges, calls)
		}
		src.set(false)
		time.Sleep(fetchTimeout) // the stuck shared fetch ends at its bound
		c.bg.Wait()
	})
}

// slowSource answers the first call after first, later ones after delay, each with a new token.
type slowSource struct {
	first, delay time.Duration
	mu           sync.Mutex
	n            int
}

func (s *slowSource) Token(ctx context.Context, r Request) (Token, error) {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	d := s.delay
	if n == 1 {
		d = s.first
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
	return Token{AccessToken: fmt.Sprintf("tok-%d", n), Expiry: time.Now().Add(2 * time.Minute)}, nil
}

// TestCacheHedgeKeepsOneToken: a slow (not hung) shared fetch gets a hedged attempt too; the hedge
// answers first and its token is handed out; the shared fetch's later token does not replace it, so
// every caller of the key sees one token.
func TestCacheHedgeKeepsOneToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The shared fetch answers after 2.5 s; the hedge, started at 1.5 s, after 0.5 s.
		src := &slowSource{first: hedgeAfter + time.Second, delay: hedgeAfter / 3}
		c := NewCache(src, CacheOptions{})
		first := mustToken(t, c, sysReq)
		time.Sleep(fetchTimeout) // every attempt has ended
		c.bg.Wait()
		if c.Stats().Hedges == 0 {
			t.Fatal("no hedged attempt on a slow upstream; the test proves nothing")
		}
		if again := mustToken(t, c, sysReq); again.AccessToken != first.AccessToken {
			t.Fatalf("the caller got %s, the cache then held %s: two tokens for one key", first.AccessToken, again.AccessToken)
		}
	})
}
