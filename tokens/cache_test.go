package tokens

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// memSource is an in-memory Source for cache tests that run inside a synctest bubble (where the network
// would stop fake time). It counts fetches per request and can block them on a gate.
type memSource struct {
	mu       sync.Mutex
	lifetime time.Duration
	n        int
	calls    map[string]int
	gate     chan struct{}
	err      error
	ctxDone  int // fetches whose ctx was cancelled while waiting at the gate
}

func newMemSource() *memSource {
	return &memSource{lifetime: 120 * time.Second, calls: map[string]int{}}
}

func (m *memSource) Token(ctx context.Context, r Request) (Token, error) {
	m.mu.Lock()
	m.n++
	m.calls[r.String()]++
	n, gate := m.n, m.gate
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			m.mu.Lock()
			m.ctxDone++
			m.mu.Unlock()
			return Token{}, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return Token{}, m.err
	}
	return Token{AccessToken: fmt.Sprintf("tok-%d", n), TokenType: "Bearer", Expiry: time.Now().Add(m.lifetime)}, nil
}

func (m *memSource) fetches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

func (m *memSource) set(f func(*memSource)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func TestCacheColdCallersShareOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newMemSource()
		src.gate = make(chan struct{})
		c := NewCache(src, CacheOptions{})
		const callers = 1000
		toks := make([]Token, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { toks[i], errs[i] = c.Token(context.Background(), sysReq) })
		}
		synctest.Wait() // every caller is waiting, the one fetch is at the gate
		if s := c.Stats(); s.Misses != callers || s.Fetches != 1 {
			t.Fatalf("before the reply: %+v, want %d misses and 1 fetch", s, callers)
		}
		close(src.gate)
		wg.Wait()
		for i := range callers {
			if errs[i] != nil || toks[i].AccessToken != "tok-1" {
				t.Fatalf("caller %d: %v %v", i, toks[i], errs[i])
			}
		}
		if src.fetches() != 1 {
			t.Fatalf("%d upstream fetches, want 1", src.fetches())
		}
	})
}

// TestCacheColdCallersOverHTTP: the same through the real client and a fake Maskinporten.
func TestCacheColdCallersOverHTTP(t *testing.T) {
	f := newFakeMP(t, time.Now)
	f.gate = make(chan struct{})
	c := NewCache(testClient(t, f), CacheOptions{})
	var wg sync.WaitGroup
	toks := make(chan string, 200)
	for range 200 {
		wg.Go(func() {
			tok, err := c.Token(context.Background(), sysReq)
			if err != nil {
				t.Error(err)
			}
			toks <- tok.AccessToken
		})
	}
	close(f.gate) // late callers may hit the cache; none may cause a second request
	wg.Wait()
	close(toks)
	for tok := range toks {
		if tok != f.issuedTokens()[0] {
			t.Fatal("callers got different tokens")
		}
	}
	if n := f.requests(); n != 1 {
		t.Fatalf("Maskinporten saw %d requests, want 1", n)
	}
}

func TestCacheKeys(t *testing.T) {
	base := Request{Scopes: []string{"a", "b"}, Org: "310000001"}
	with := func(f func(*Request)) Request { r := base; r.Scopes = []string{"a", "b"}; f(&r); return r }
	separate := []Request{
		base,
		with(func(r *Request) { r.Scopes = []string{"a"} }),
		with(func(r *Request) { r.Org = "310000002" }),
		with(func(r *Request) { r.Org = "" }),
		with(func(r *Request) { r.ExternalRef = "310000001" }), // externalRef = org is not "no externalRef"
		with(func(r *Request) { r.ExternalRef = "payroll" }),
		with(func(r *Request) { r.Resource = "https://api.example/" }),
		with(func(r *Request) { r.Kind = KindAltinn }),
	}
	same := []Request{
		with(func(r *Request) { r.Scopes = []string{"b", "a"} }),
		with(func(r *Request) { r.Scopes = []string{"b", "a", "b", "a"} }),
		with(func(r *Request) { r.Kind = KindMaskinporten }),
	}
	synctest.Test(t, func(t *testing.T) {
		src := newMemSource()
		c := NewCache(src, CacheOptions{})
		for _, r := range separate {
			mustToken(t, c, r)
		}
		if src.fetches() != len(separate) {
			t.Fatalf("%d fetches for %d different keys", src.fetches(), len(separate))
		}
		for _, r := range same {
			if tok := mustToken(t, c, r); tok.AccessToken != "tok-1" {
				t.Errorf("%s: got %s, want the cached tok-1", r, tok.AccessToken)
			}
		}
		if src.fetches() != len(separate) || c.Stats().Entries != len(separate) {
			t.Errorf("equivalent requests made new keys: %d fetches, %+v", src.fetches(), c.Stats())
		}
	})
}

func TestCacheNeverServesExpiredToken(t *testing.T) {
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	c := NewCache(testClient(t, f), CacheOptions{Now: clk.Now})
	tok := mustToken(t, c, sysReq)
	f.setAlways(status(503, "down")) // upstream down from now on
	for _, step := range []time.Duration{111 * time.Second, 9 * time.Second, time.Hour} {
		clk.Advance(step) // 9 s left (< MinValidity), then expired, then long expired
		got, err := c.Token(context.Background(), sysReq)
		if err == nil || got.AccessToken != "" {
			t.Fatalf("after %s: served a token with %s left", step, tok.Expiry.Sub(clk.Now()))
		}
		if e := AsError(err); e == nil || !e.Temporary || e.StatusCode != 503 {
			t.Fatalf("error = %v, want the temporary upstream error", err)
		}
	}
}

// TestCacheUpstreamDown: cached tokens are served while they have MinValidity left, then the upstream
// error (Temporary, RetryAfter) comes back; service resumes when upstream returns.
func TestCacheUpstreamDown(t *testing.T) {
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	c := NewCache(testClient(t, f, func(o *ClientOptions) { o.Retry.Max = -1 }), CacheOptions{Now: clk.Now})
	first := mustToken(t, c, sysReq)
	f.setAlways(oauthError(503, "temporarily_unavailable", "", "Retry-After", "20"))
	clk.Advance(70 * time.Second) // 50 s left: refresh window
	if got := mustToken(t, c, sysReq); got.AccessToken != first.AccessToken {
		t.Fatal("cached token not served while upstream is down")
	}
	c.bg.Wait()                   // the background refresh failed
	clk.Advance(39 * time.Second) // 11 s left, past the refresh retry pause (Retry-After 20 s)
	if got := mustToken(t, c, sysReq); got.AccessToken != first.AccessToken {
		t.Fatal("cached token with 11 s left not served")
	}
	c.bg.Wait()
	if s := c.Stats(); s.Refreshes != 2 || s.Errors != 2 || s.Stale < 1 {
		t.Errorf("stats = %+v, want 2 failed refreshes and stale serves counted", s)
	}
	clk.Advance(2 * time.Second) // 9 s left
	_, err := c.Token(context.Background(), sysReq)
	if e := AsError(err); e == nil || !e.Temporary || e.RetryAfter != 20*time.Second {
		t.Fatalf("error = %v, want temporary with RetryAfter 20s", err)
	}
	f.setAlways(nil)            // upstream is back
	clk.Advance(failBackoffMax) // the key's failure backoff (shared by every caller) has run out
	if got := mustToken(t, c, sysReq); got.AccessToken == first.AccessToken || got.Expiry.Sub(clk.Now()) != 120*time.Second {
		t.Fatal("service did not resume with a new token")
	}
}

func TestCacheRefreshAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newMemSource()
		c := NewCache(src, CacheOptions{})
		c.jitter = noJitter // the window's exact start; TestRefreshJitter covers the spread
		first := mustToken(t, c, sysReq)
		time.Sleep(59 * time.Second) // 61 s left: not yet in the window
		mustToken(t, c, sysReq)
		synctest.Wait()
		if src.fetches() != 1 {
			t.Fatalf("refreshed %d times before the window", src.fetches()-1)
		}
		time.Sleep(2 * time.Second) // 59 s left: inside min(60 s, 120 s / 2)
		src.set(func(m *memSource) { m.gate = make(chan struct{}) })
		for range 10 {
			if got := mustToken(t, c, sysReq); got.AccessToken != first.AccessToken { // returns without blocking
				t.Fatal("refresh ahead did not serve the cached token")
			}
		}
		synctest.Wait()
		if src.fetches() != 2 || c.Stats().Refreshes != 1 {
			t.Fatalf("%d fetches, %+v; want exactly one background refresh", src.fetches(), c.Stats())
		}
		close(src.gate)
		c.bg.Wait()
		if got := mustToken(t, c, sysReq); got.AccessToken != "tok-2" || src.fetches() != 2 {
			t.Fatalf("after the refresh: %s, %d fetches", got.AccessToken, src.fetches())
		}
	})
}

func TestCacheCancelledCallerDoesNotCancelSharedFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newMemSource()
		src.gate = make(chan struct{})
		c := NewCache(src, CacheOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := c.Token(ctx, sysReq)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller got %v", err)
		}
		close(src.gate)
		if tok := mustToken(t, c, sysReq); tok.AccessToken != "tok-1" {
			t.Fatalf("got %s", tok.AccessToken)
		}
		if src.fetches() != 1 || src.ctxDone != 0 {
			t.Fatalf("%d fetches, %d cancelled; want the one shared fetch to finish", src.fetches(), src.ctxDone)
		}
	})
}

func TestCacheNegativeOnlyForConfigErrors(t *testing.T) {
	tests := []struct {
		name     string
		reply    reply
		negative bool
	}{
		{"MP-303", oauthError(400, "invalid_altinn_customer_configuration", "MP-303 no system user"), true},
		{"MP-200", oauthError(400, "invalid_scope", "MP-200 scope"), true},
		{"MP-110", oauthError(400, "invalid_grant", "MP-110 aud"), false},
		{"503", status(503, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			f := newFakeMP(t, clk.Now)
			f.setAlways(tt.reply)
			c := NewCache(testClient(t, f, func(o *ClientOptions) { o.Retry.Max = -1 }), CacheOptions{Now: clk.Now})
			_, err1 := c.Token(context.Background(), sysReq)
			clk.Advance(failBackoffMax) // past the failure backoff every failure gets
			_, err2 := c.Token(context.Background(), sysReq)
			if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
				t.Fatalf("errors %v / %v", err1, err2)
			}
			want := 2
			if tt.negative {
				want = 1
			}
			if f.requests() != want {
				t.Fatalf("%d upstream requests for two calls, want %d", f.requests(), want)
			}
			if !tt.negative {
				return
			}
			f.setAlways(nil)
			if _, err := c.Refresh(context.Background(), sysReq); err != nil { // force skips the negative entry
				t.Fatalf("Refresh: %v", err)
			}
			f.setAlways(tt.reply)
			c.Flush()
			_, _ = c.Token(context.Background(), sysReq)
			clk.Advance(31 * time.Second) // NegativeTTL 30 s over
			_, _ = c.Token(context.Background(), sysReq)
			if f.requests() != 4 {
				t.Fatalf("%d upstream requests, want 4", f.requests())
			}
		})
	}
}

func TestCacheRefreshAndFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newMemSource()
		c := NewCache(src, CacheOptions{})
		mustToken(t, c, sysReq)
		if tok, err := c.Refresh(context.Background(), sysReq); err != nil || tok.AccessToken != "tok-2" {
			t.Fatalf("Refresh = %v, %v", tok, err)
		}
		if tok := mustToken(t, c, sysReq); tok.AccessToken != "tok-2" {
			t.Fatalf("refreshed token not cached: %s", tok.AccessToken)
		}
		c.Flush()
		if c.Stats().Entries != 0 {
			t.Fatal("Flush kept entries")
		}
		if tok := mustToken(t, c, sysReq); tok.AccessToken != "tok-3" {
			t.Fatalf("after Flush: %s", tok.AccessToken)
		}
	})
}

func TestCacheRefusesTokenShorterThanMinValidity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newMemSource()
		src.lifetime = 5 * time.Second
		_, err := NewCache(src, CacheOptions{}).Token(context.Background(), sysReq)
		if err == nil {
			t.Fatal("a token with 5 s left was handed out")
		}
	})
}

func TestCacheSweepsExpiredEntries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newMemSource()
		c := NewCache(src, CacheOptions{})
		mustToken(t, c, sysReq)
		time.Sleep(3 * time.Minute)
		mustToken(t, c, Request{Scopes: []string{"other"}})
		if n := c.Stats().Entries; n != 1 {
			t.Fatalf("%d entries, want the expired one swept", n)
		}
	})
}
