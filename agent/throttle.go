package agent

import (
	"sync"
	"time"
)

// throttle counts failed client authentications per key in a sliding window (D7). Keys are a known
// client id, or the remote address for unknown ids, so one client's failures never block another.
type throttle struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	maxKeys int
	fails   map[string][]time.Time // the last failures of each key, oldest first, at most limit
}

// overflowKey collects the failures of new keys once maxKeys keys are tracked, so memory stays bounded
// and a caller cycling through source addresses still meets a limit.
const overflowKey = "overflow"

func newThrottle(limit int, window time.Duration) *throttle {
	return &throttle{limit: limit, window: window, maxKeys: 1024, fails: make(map[string][]time.Time)}
}

// wait is how long key must wait before its next attempt is looked at, or 0.
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	key = t.bucket(key, now)
	f := t.prune(key, now)
	if len(f) < t.limit {
		return 0
	}
	return f[0].Add(t.window).Sub(now)
}

// fail records a failure of key at now.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key = t.bucket(key, now)
	f := append(t.prune(key, now), now)
	if len(f) > t.limit {
		f = f[len(f)-t.limit:]
	}
	t.fails[key] = f
}

// bucket maps key to itself while there is room, else to overflowKey.
func (t *throttle) bucket(key string, now time.Time) string {
	if _, ok := t.fails[key]; ok || len(t.fails) < t.maxKeys {
		return key
	}
	for k := range t.fails {
		t.prune(k, now)
	}
	if len(t.fails) < t.maxKeys {
		return key
	}
	return overflowKey
}

// prune drops the failures of key that left the window and returns the rest.
func (t *throttle) prune(key string, now time.Time) []time.Time {
	f := t.fails[key]
	i := 0
	for i < len(f) && !f[i].Add(t.window).After(now) {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(t.fails, key)
		return nil
	}
	t.fails[key] = f
	return f
}
