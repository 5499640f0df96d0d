package tokens

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func noJitter(time.Duration) time.Duration { return 0 }

// timedSource hands out tokens of a fixed lifetime and records when (bubble time) each fetch ran.
type timedSource struct {
	lifetime time.Duration
	mu       sync.Mutex
	at       []time.Time
}

func (s *timedSource) Token(_ context.Context, r Request) (Token, error) {
	now := time.Now()
	s.mu.Lock()
	s.at = append(s.at, now)
	n := len(s.at)
	s.mu.Unlock()
	return Token{AccessToken: "tok-" + strconv.Itoa(n), TokenType: "Bearer", Expiry: now.Add(s.lifetime)}, nil
}

// TestRefreshJitter: 1000 keys fetched in the same moment (a cold start with 1000 system users), then
// asked for every second for 10 minutes of bubble time. Without jitter each round of refreshes is one
// burst of 1000 upstream grants in the same second; with it (RefreshJitter of the 60 s refresh-ahead)
// the refreshes spread over 15 s and stay spread, so no second sees more than a fraction of the keys,
// while every key still gets about one grant per refresh interval and no caller ever waits.
func TestRefreshJitter(t *testing.T) {
	const (
		keys     = 1000
		lifetime = 120 * time.Second
		ahead    = 60 * time.Second
		run      = 10 * time.Minute
	)
	simulate := func(t *testing.T, jitter func(time.Duration) time.Duration) (perSecond map[int64]int, fetches int,
		st CacheStats) {
		synctest.Test(t, func(t *testing.T) {
			src := &timedSource{lifetime: lifetime}
			c := NewCache(src, CacheOptions{RefreshAhead: ahead})
			c.jitter = jitter
			reqs := make([]Request, keys)
			for i := range reqs {
				reqs[i] = Request{Scopes: []string{"altinn:demo/read"}, Org: "314250052", ExternalRef: "su-" + strconv.Itoa(i)}
			}
			ctx := context.Background()
			start := time.Now()
			for elapsed := time.Duration(0); elapsed < run; elapsed += time.Second {
				for _, r := range reqs {
					if _, err := c.Token(ctx, r); err != nil {
						t.Fatal(err)
					}
				}
				synctest.Wait() // the refreshes started this second have run
				time.Sleep(time.Second)
			}
			c.bg.Wait()
			perSecond = map[int64]int{}
			src.mu.Lock()
			for _, at := range src.at[keys:] { // the refreshes, after the cold fetch of every key
				perSecond[int64(at.Sub(start)/time.Second)]++
			}
			fetches = len(src.at)
			src.mu.Unlock()
			st = c.Stats()
		})
		return perSecond, fetches, st
	}
	burst := func(perSecond map[int64]int) (most int) {
		for _, n := range perSecond {
			most = max(most, n)
		}
		return most
	}

	without, _, _ := simulate(t, noJitter)
	if b := burst(without); b != keys {
		t.Errorf("without jitter the largest burst is %d refreshes in one second, want all %d (the case jitter is for)", b, keys)
	}

	rng := rand.New(rand.NewPCG(1, 2)) // seeded: the same draws (in the order refreshes ask for them)
	var rngMu sync.Mutex
	with, fetches, st := simulate(t, func(max time.Duration) time.Duration {
		if max <= 0 {
			return 0
		}
		rngMu.Lock()
		defer rngMu.Unlock()
		return time.Duration(rng.Int64N(int64(max)))
	})
	// 1000 keys over a 15 s window: about 67 a second; allow twice that for the randomness.
	if b := burst(with); b > 2*keys/15 {
		t.Errorf("with jitter the largest burst is %d refreshes in one second, want at most %d", b, 2*keys/15)
	}
	// One refresh per key every 60 s (lifetime − refresh-ahead) to 45 s (with the whole jitter): in 10 min
	// at least 9 and at most 14 per key (the one in flight at the end counted).
	refreshes := fetches - keys
	if lo, hi := keys*int(run/(lifetime-ahead)-1), keys*int(run/(lifetime-ahead-ahead/4)+1); refreshes < lo || refreshes > hi {
		t.Errorf("%d refreshes of %d keys in %s, want %d to %d", refreshes, keys, run, lo, hi)
	}
	if st.Misses != keys {
		t.Errorf("%d cache misses, want %d (the cold fetches only: no caller waited on a refresh)", st.Misses, keys)
	}
	t.Logf("1000 keys, 10 min: largest burst %d refreshes/s without jitter, %d with; %d refreshes (%.0f grants/min)",
		burst(without), burst(with), refreshes, float64(refreshes)/run.Minutes())
}
