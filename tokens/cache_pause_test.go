package tokens

import (
	"context"
	"testing"
	"time"
)

// TestCache429Pause: a 429 with Retry-After is honoured across fetches, not only between the attempts
// of one: until it has passed, callers without a usable token get the error from the cache and no
// request reaches the upstream; a cached token with MinValidity left is still served meanwhile. A 503
// with Retry-After is not paused (TestCacheUpstreamDown): only a rate-limiting upstream asked to wait.
func TestCache429Pause(t *testing.T) {
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	c := NewCache(testClient(t, f, func(o *ClientOptions) { o.Retry.Max = -1 }), CacheOptions{Now: clk.Now})
	first := mustToken(t, c, sysReq)
	f.setAlways(oauthError(429, "slow_down", "", "Retry-After", "60"))
	clk.Advance(70 * time.Second) // 50 s left: the refresh ahead fails with the 429
	if got := mustToken(t, c, sysReq); got.AccessToken != first.AccessToken {
		t.Fatal("cached token not served while rate limited")
	}
	c.bg.Wait()
	before := f.requests()
	clk.Advance(45 * time.Second) // 5 s left: below MinValidity, within the 60 s pause
	for range 5 {
		_, err := c.Token(context.Background(), sysReq)
		if e := AsError(err); e == nil || e.StatusCode != 429 || e.RetryAfter != time.Minute {
			t.Fatalf("within the pause: %v, want the 429 with Retry-After 60s", err)
		}
	}
	if got := f.requests() - before; got != 0 {
		t.Fatalf("%d upstream requests within the Retry-After pause, want 0", got)
	}
	if s := c.Stats(); s.NegativeHits != 5 {
		t.Errorf("NegativeHits = %d, want 5", s.NegativeHits)
	}
	f.setAlways(nil)              // the upstream is back
	clk.Advance(16 * time.Second) // the pause (from the refresh at +70 s) is over
	if got := mustToken(t, c, sysReq); got.AccessToken == first.AccessToken || f.requests()-before != 1 {
		t.Fatalf("after the pause: %d requests, want one fetch of a new token", f.requests()-before)
	}
}
