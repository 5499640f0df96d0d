package agent

import (
	"sync"
	"time"
)

// throttle counts failed client authentications per key in a sliding window (D7). Keys are a known
// client id and the request's source (a Unix socket peer's uid, else the remote address), so failures
// are bounded per id and per source. It only ever answers failures: a request with the right secret is
// verified and served whatever the counts, so nobody can lock a caller out by failing in its name.
// It also rate-limits the log: the failures within the limit are logged one by one, the ones beyond it
// once per window, as a count.
type throttle struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	maxKeys int
	keys    map[string]*failures
}

// failures are one key's recent failures.
type failures struct {
	at         []time.Time // the last failures, oldest first, at most limit
	suppressed int         // failures beyond the limit not logged one by one since lastNote
	lastNote   time.Time   // when the last "throttled" line was logged
}

// verdict is what to do with one failure.
type verdict struct {
	wait       time.Duration // > 0: answer 429 with this Retry-After
	log        bool          // log this failure (individually, or as the note of a throttled key)
	suppressed int           // with log on a throttled key: failures not logged since the last note
}

// overflowKey collects the failures of new keys once maxKeys keys are tracked, so memory stays bounded
// and a caller cycling through source addresses still meets a limit.
const overflowKey = "overflow"

func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{limit: limit, window: window, maxKeys: 1024, keys: make(map[string]*failures)}
}

// fail records a failure under every key at now and says how to answer it: 429 when any key is over its
// limit, and whether to log it.
func (t *throttle) fail(now time.Time, keys ...string) verdict {
	t.mu.Lock()
	defer t.mu.Unlock()
	var v verdict
	logged := false
	for _, k := range keys {
		f := t.record(t.bucket(k, now), now)
		if !f.over(t.limit) {
			logged = true // within the limit: log it
			continue
		}
		// The next failure is within the limit once all but limit-1 of these have left the window.
		v.wait = max(v.wait, f.at[len(f.at)-t.limit].Add(t.window).Sub(now))
		f.suppressed++
		if now.Sub(f.lastNote) >= t.window {
			v.log, v.suppressed = true, max(v.suppressed, f.suppressed)
			f.lastNote, f.suppressed = now, 0
		}
	}
	if v.wait <= 0 {
		v.wait, v.log = 0, logged
	}
	return v
}

// over reports whether the key has failed more than limit times in the window (this one included).
func (f *failures) over(limit int) bool { return len(f.at) > limit }

// record prunes key's failures to the window and appends one at now, keeping limit+1 at most (one more
// than the limit marks the key as over it).
func (t *throttle) record(key string, now time.Time) *failures {
	f := t.prune(key, now)
	if f == nil {
		f = &failures{}
		t.keys[key] = f
	}
	f.at = append(f.at, now)
	if len(f.at) > t.limit+1 {
		f.at = f.at[len(f.at)-t.limit-1:]
	}
	return f
}

// bucket maps key to itself while there is room, else to overflowKey.
func (t *throttle) bucket(key string, now time.Time) string {
	if _, ok := t.keys[key]; ok || len(t.keys) < t.maxKeys {
		return key
	}
	for k := range t.keys {
		t.prune(k, now)
	}
	if len(t.keys) < t.maxKeys {
		return key
	}
	return overflowKey
}

// prune drops the failures of key that left the window and returns the rest, or nil (and forgets the
// key) when none is left.
func (t *throttle) prune(key string, now time.Time) *failures {
	f := t.keys[key]
	if f == nil {
		return nil
	}
	i := 0
	for i < len(f.at) && !f.at[i].Add(t.window).After(now) {
		i++
	}
	f.at = f.at[i:]
	if len(f.at) == 0 && now.Sub(f.lastNote) >= t.window {
		delete(t.keys, key)
		return nil
	}
	return f
}
