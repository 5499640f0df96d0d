package tokens

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// CacheOptions configure a Cache. The zero value means the defaults.
type CacheOptions struct {
	// Now is the clock; nil means the real clock, read through a Clock (cheap on a cache hit).
	Now func() time.Time
	// MinValidity is the least validity a handed-out token has left; default 10 s.
	MinValidity time.Duration
	// RefreshAhead starts a background refresh this long before expiry, at most half the token's
	// lifetime; default 60 s. Each token's refresh starts a random part of up to a quarter of that
	// earlier still (RefreshJitter), so that keys fetched together (a cold start, many system users) do
	// not all refresh in the same moment again and again.
	RefreshAhead time.Duration
	// NegativeTTL is how long permanent configuration errors (MP-303, MP-200) are answered from the cache
	// without asking upstream; default 30 s, negative disables.
	NegativeTTL time.Duration
	// HedgeAfter is how long a shared fetch runs, with callers waiting, before a hedged attempt starts
	// (and the least time between hedges); 0 means 1.5 s, negative means never (one upstream request per
	// key at a time, however slow the upstream: what a drill that holds the upstream on purpose needs).
	HedgeAfter time.Duration
	// Logger receives warnings (refresh failures, stale tokens served); nil discards.
	Logger *slog.Logger
}

// CacheStats are counters since the Cache was made, for metrics.
type CacheStats struct {
	Hits         uint64 // tokens served from the cache
	Misses       uint64 // calls that had to wait for an upstream fetch
	Refreshes    uint64 // background refreshes started ahead of expiry
	Fetches      uint64 // upstream fetches (Maskinporten tokens and Altinn exchanges)
	Errors       uint64 // failed upstream fetches
	NegativeHits uint64 // calls answered with a cached configuration error, or within a 429's Retry-After
	Stale        uint64 // cached tokens served in the refresh window after a failed refresh
	Hedges       uint64 // hedged attempts started for fetches stuck on a slow or hung upstream
	Paced        uint64 // calls answered with a key's last error during its failure backoff
	Entries      int    // keys held now
}

// RefreshJitter is the largest part of the refresh-ahead time by which a token's refresh is moved
// earlier, at random per token: with many keys fetched at once, their refreshes spread over this part of
// the refresh-ahead time instead of coming in one burst, and each refresh draws anew, so they stay spread.
const RefreshJitter = 0.25

const (
	// fetchTimeout bounds a shared fetch, which runs detached from the callers' contexts.
	fetchTimeout = 30 * time.Second
	// refreshRetry is the pause after a failed background refresh (or the error's RetryAfter if longer).
	refreshRetry = 5 * time.Second
	// maxPause bounds how long a 429's Retry-After keeps the cache from asking again: meanwhile callers
	// without a usable token get the upstream's error (503 with Retry-After at the agent).
	maxPause = 5 * time.Minute
)

// Cache is a Source that caches tokens of another Source per normalised Request (scopes sorted and
// de-duplicated, org, externalRef, resource, kind), fetching at most one at a time per key, refreshing
// ahead of expiry in the background, and never handing out a token with less than MinValidity left.
// The issuer and client id are those of the one Source: when they change, make a new Cache.
//
// For KindAltinn, when the Source can exchange (a *Client can), the Cache gets the Maskinporten token for
// the same request from itself (cached, single-flight) and exchanges it; otherwise it asks the Source.
//
// A caller whose ctx ends stops waiting; the shared fetch goes on (detached, bounded by 30 s) and fills
// the cache for the next caller. Safe for concurrent use; hits take no lock.
type Cache struct {
	src Source
	ex  exchanger
	now func() time.Time
	log *slog.Logger

	minValidity, refreshAhead, negativeTTL, hedgeAfter time.Duration

	mu      sync.Mutex                        // serialises changes of entries; never held across a fetch
	entries atomic.Pointer[map[string]*entry] // copy on write
	gen     uint64                            // Flush generation, under mu
	sf      singleflight.Group
	bg      sync.WaitGroup // background refreshes
	// jitter draws how much earlier than refresh-ahead a token is refreshed, in [0, max); tests may
	// replace it.
	jitter func(max time.Duration) time.Duration

	hits, misses, refreshes, fetches, errs, negHits, stale, hedges, paced atomic.Uint64
}

// exchanger is a Source that can trade a Maskinporten token for an Altinn token (*Client).
type exchanger interface {
	Exchange(ctx context.Context, mp Token) (Token, error)
}

// entry is one cache key. Its state is replaced as a whole, atomically.
type entry struct {
	req        Request // normalised
	sfKey      string  // single-flight key: Flush generation + cache key
	state      atomic.Pointer[entryState]
	refreshing atomic.Bool  // a background refresh is running
	fetching   atomic.Int32 // fetches running (keeps the entry from being swept)
	retryAt    atomic.Int64 // no background refresh before this (UnixNano) after a failure

	// Failure pacing and hedging (backoff.go).
	failures  atomic.Int32                  // consecutive failed fetches
	nextFetch atomic.Int64                  // no fetch before this (UnixNano, cache clock) after a failure
	lastErr   atomic.Pointer[error]         // the last failure, answered during the backoff
	started   atomic.Int64                  // when the running shared fetch began (UnixNano, real time), 0 if none
	lastHedge atomic.Int64                  // when the last hedged attempt began (UnixNano, real time)
	hedging   atomic.Bool                   // a hedged attempt runs
	stored    atomic.Pointer[chan struct{}] // closed when a token is stored
}

// entryState is an immutable snapshot: the cached token and any negative-cached error.
type entryState struct {
	tok       Token
	refreshAt time.Time // refresh ahead from here
	negErr    error
	negUntil  time.Time
}

func (s *entryState) usable(now time.Time, minValidity time.Duration) bool {
	return s.tok.AccessToken != "" && s.tok.Expiry.Sub(now) >= minValidity
}

func (s *entryState) negative(now time.Time) bool { return s.negErr != nil && now.Before(s.negUntil) }

// NewCache returns a Cache over src.
func NewCache(src Source, o CacheOptions) *Cache {
	c := &Cache{src: src, now: o.Now, log: o.Logger, minValidity: o.MinValidity, refreshAhead: o.RefreshAhead,
		negativeTTL: o.NegativeTTL, hedgeAfter: o.HedgeAfter}
	if c.hedgeAfter == 0 {
		c.hedgeAfter = hedgeAfter
	}
	c.ex, _ = src.(exchanger)
	c.jitter = randomJitter
	if c.now == nil {
		c.now = new(Clock).Now // time.Now's cost without its wall-clock read on every hit
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.minValidity <= 0 {
		c.minValidity = 10 * time.Second
	}
	if c.refreshAhead <= 0 {
		c.refreshAhead = 60 * time.Second
	}
	switch {
	case c.negativeTTL == 0:
		c.negativeTTL = 30 * time.Second
	case c.negativeTTL < 0:
		c.negativeTTL = 0
	}
	m := map[string]*entry{}
	c.entries.Store(&m)
	return c
}

// Token returns a cached token with at least MinValidity left, starting a background refresh when it is
// within the refresh-ahead window; otherwise it waits for a fetch shared with other callers of the key.
// While a background refresh fails, the cached token is served (logged once per failure) until it has
// less than MinValidity left; then callers get the upstream error (see Error.Temporary, RetryAfter).
func (c *Cache) Token(ctx context.Context, r Request) (Token, error) {
	var buf [256]byte
	e, err := c.entry(buf[:0], r)
	if err != nil {
		return Token{}, err
	}
	now := c.now()
	st := e.state.Load()
	if st != nil {
		neg := st.negative(now)
		if st.usable(now, c.minValidity) {
			if !neg && !now.Before(st.refreshAt) {
				if e.retryAt.Load() != 0 {
					c.stale.Add(1) // the last refresh failed; this token is still good for MinValidity
				}
				c.refreshInBackground(ctx, e, now)
			}
			c.hits.Add(1)
			return st.tok, nil
		}
		if neg {
			c.negHits.Add(1)
			return Token{}, st.negErr
		}
	}
	c.misses.Add(1)
	return c.wait(ctx, e, st)
}

// Refresh fetches a new token for r from upstream, skipping the cache and any negative entry (a fetch
// already running for r is joined), stores it and returns it. For KindAltinn it exchanges again, with the
// cached Maskinporten token when that still has MinValidity left.
func (c *Cache) Refresh(ctx context.Context, r Request) (Token, error) {
	var buf [256]byte
	e, err := c.entry(buf[:0], r)
	if err != nil {
		return Token{}, err
	}
	return c.join(ctx, e, nil, true)
}

// Flush forgets every cached token and error. Fetches already running finish but are not cached.
func (c *Cache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	m := map[string]*entry{}
	c.entries.Store(&m)
}

// Stats returns the counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Refreshes: c.refreshes.Load(), Fetches: c.fetches.Load(),
		Errors: c.errs.Load(), NegativeHits: c.negHits.Load(), Stale: c.stale.Load(), Entries: len(*c.entries.Load()),
		Hedges: c.hedges.Load(), Paced: c.paced.Load(),
	}
}

// entry finds or makes the entry of r; buf is scratch space for the key. Requests are validated once,
// when their entry is made.
func (c *Cache) entry(buf []byte, r Request) (*entry, error) {
	key := appendKey(buf, r)
	if e := (*c.entries.Load())[string(key)]; e != nil {
		return e, nil
	}
	n := r.Normalize()
	if err := validateRequest(n); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.entries.Load()
	if e := old[string(key)]; e != nil {
		return e, nil
	}
	now := c.now()
	m := make(map[string]*entry, len(old)+1)
	for k, e := range old {
		if !e.sweepable(now) {
			m[k] = e
		}
	}
	e := &entry{req: n, sfKey: strconv.FormatUint(c.gen, 10) + ":" + string(key)}
	m[string(key)] = e
	c.entries.Store(&m)
	return e, nil
}

// sweepable: nothing usable is cached and no fetch runs, so dropping the entry loses nothing.
func (e *entry) sweepable(now time.Time) bool {
	st := e.state.Load()
	return st != nil && e.fetching.Load() == 0 && !st.negative(now) && !st.tok.Expiry.After(now)
}

// wait answers with the key's last error while its failure backoff runs (no upstream call), else joins
// or starts the key's fetch.
func (c *Cache) wait(ctx context.Context, e *entry, seen *entryState) (Token, error) {
	if err := c.backingOff(e); err != nil {
		c.paced.Add(1)
		return Token{}, err
	}
	return c.join(ctx, e, seen, false)
}

// join joins or starts the key's fetch and waits for it, for a token stored by a hedged attempt, or for
// ctx; while it waits on a fetch stuck longer than HedgeAfter it starts hedged attempts. It never
// returns a token with less than MinValidity left. Unless force, seen is the state the caller found
// unusable: when a fetch that ended just before this one would start has stored a usable token since,
// that token is the answer, not another upstream call.
func (c *Cache) join(ctx context.Context, e *entry, seen *entryState, force bool) (Token, error) {
	stored := e.storedChan()
	ch := c.sf.DoChan(e.sfKey, func() (any, error) {
		if st := e.state.Load(); !force && st != seen && st != nil && st.usable(c.now(), c.minValidity) {
			return st.tok, nil
		}
		return c.fetch(ctx, e)
	})
	var hedgeTick <-chan time.Time // nil: no hedging
	if c.hedgeAfter > 0 {
		tick := time.NewTicker(c.hedgeAfter / 10)
		defer tick.Stop()
		hedgeTick = tick.C
	}
	for {
		select {
		case <-ctx.Done():
			return Token{}, fmt.Errorf("tokens: waiting for %s: %w (the fetch goes on and fills the cache)", e.req, ctx.Err())
		case res := <-ch:
			if res.Err != nil {
				return Token{}, res.Err
			}
			return c.checkValidity(e, res.Val.(Token))
		case <-stored:
			if st := e.state.Load(); st != nil && st.tok.AccessToken != "" {
				return c.checkValidity(e, st.tok)
			}
			stored = e.storedChan()
		case <-hedgeTick:
			c.maybeHedge(ctx, e)
		}
	}
}

// checkValidity refuses a new token with less than MinValidity left.
func (c *Cache) checkValidity(e *entry, tok Token) (Token, error) {
	if left := tok.Expiry.Sub(c.now()); left < c.minValidity {
		return Token{}, fmt.Errorf("tokens: the new %s is valid for %s only, less than the minimum validity %s: lower the minimum validity or check this host's clock",
			e.req, left.Round(time.Millisecond), c.minValidity)
	}
	return tok, nil
}

// refreshInBackground starts one refresh of e unless one runs or the last one failed recently.
func (c *Cache) refreshInBackground(ctx context.Context, e *entry, now time.Time) {
	if now.UnixNano() < e.retryAt.Load() || !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	c.refreshes.Add(1)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer e.refreshing.Store(false)
		_, err, _ := c.sf.Do(e.sfKey, func() (any, error) { return c.fetch(ctx, e) })
		if err != nil {
			wait := refreshRetry
			if ue := AsError(err); ue != nil && ue.RetryAfter > wait {
				wait = ue.RetryAfter
			}
			e.retryAt.Store(c.now().Add(wait).UnixNano())
			c.log.Warn("token refresh ahead of expiry failed; serving the cached token", "request", e.req.String(),
				"retry_in", wait.String(), "error", err.Error())
		}
	}()
}

// fetch gets a token from upstream on a context detached from the caller's cancellation, and stores
// it. Permanent configuration errors are stored for NegativeTTL, and a 429 with Retry-After until then
// (at most maxPause), so that no caller makes the next fetch sooner than a rate-limiting upstream asked
// (maskinporten.md §4); other errors only return.
func (c *Cache) fetch(parent context.Context, e *entry) (any, error) {
	e.fetching.Add(1)
	defer e.fetching.Add(-1)
	e.started.Store(time.Now().UnixNano())
	defer e.started.Store(0)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), fetchTimeout)
	defer cancel()
	if e.failures.Load() > 0 {
		ctx = withSingleAttempt(ctx) // failing: the backoff paces the attempts, not the client
	}
	c.fetches.Add(1)
	sent := c.now()
	before := e.state.Load()
	tok, err := c.upstream(ctx, e.req)
	if err != nil {
		c.errs.Add(1)
		if st := e.state.Load(); st != before && st != nil && st.usable(c.now(), c.minValidity) {
			return st.tok, nil // a hedged attempt got a token while this one failed
		}
		c.failed(e, err)
		old := e.state.Load()
		ue := AsError(err)
		var pause time.Duration // how long callers are answered with err without asking upstream
		switch {
		case ue != nil && ue.configError():
			pause = c.negativeTTL
		case ue != nil && ue.StatusCode == http.StatusTooManyRequests && ue.RetryAfter > 0:
			pause = min(ue.RetryAfter, maxPause) // rate limited: the next fetch waits as the upstream asked
		}
		if pause > 0 {
			st := &entryState{negErr: err, negUntil: c.now().Add(pause)}
			if old != nil {
				st.tok, st.refreshAt = old.tok, old.refreshAt
			}
			e.state.Store(st)
		} else if old == nil {
			e.state.Store(&entryState{}) // nothing cached: the entry may be swept
		}
		return nil, err
	}
	return c.store(e, tok, sent, before), nil
}

// store caches tok, fetched at sent, in e, ends its failure backoff and returns the token to hand out.
// When another attempt (a hedge) stored a usable token since this one began (e's state is no longer
// before), that token stays and is returned, so every caller of the key gets the same one.
func (c *Cache) store(e *entry, tok Token, sent time.Time, before *entryState) Token {
	if cur := e.state.Load(); cur != before && cur != nil && cur.usable(c.now(), c.minValidity) {
		return cur.tok
	}
	lifetime := tok.Expiry.Sub(sent)
	ahead := min(c.refreshAhead, lifetime/2)
	ahead += c.jitter(time.Duration(float64(ahead) * RefreshJitter))
	e.state.Store(&entryState{tok: tok, refreshAt: tok.Expiry.Add(-ahead)})
	e.retryAt.Store(0)
	c.succeeded(e)
	return tok
}

// randomJitter is a uniformly random duration in [0, max), or 0 when max is not positive.
func randomJitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

// upstream asks the Source; for KindAltinn with an exchanging Source, the Maskinporten token comes from
// this cache and is then exchanged.
func (c *Cache) upstream(ctx context.Context, r Request) (Token, error) {
	if r.Kind != KindAltinn || c.ex == nil {
		return c.src.Token(ctx, r)
	}
	mr := r
	mr.Kind = KindMaskinporten
	mp, err := c.Token(ctx, mr)
	if err != nil {
		return Token{}, err
	}
	return c.ex.Exchange(ctx, mp)
}
