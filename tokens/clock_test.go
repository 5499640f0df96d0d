package tokens

import (
	"sync"
	"testing"
	"time"
)

// TestClock: Clock.Now lies between real readings taken before and after it (compared on the monotonic
// clock, exactly), never goes backwards, carries a monotonic reading, and keeps doing so across
// rebases and from many goroutines.
func TestClock(t *testing.T) {
	var c Clock // the zero Clock is ready
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var last time.Time
			deadline := time.Now().Add(3 * ClockRebase) // spans at least two rebases
			for n := 0; time.Now().Before(deadline) || n < 1000; n++ {
				before := time.Now()
				got := c.Now()
				after := time.Now()
				if got.Sub(before) < 0 || after.Sub(got) < 0 {
					t.Errorf("Now %v outside [%v, %v]", got, before, after)
					return
				}
				if !last.IsZero() && got.Sub(last) < 0 {
					t.Errorf("Now went back from %v to %v", last, got)
					return
				}
				if got.Round(0) == got { // Round(0) strips the monotonic reading
					t.Errorf("Now %v has no monotonic reading", got)
					return
				}
				// The wall reading follows the real one (no clock step happens in a test).
				if d := got.Round(0).Sub(before.Round(0)); d < -time.Millisecond || d > time.Second {
					t.Errorf("wall reading %v is %v from the real %v", got.Round(0), d, before.Round(0))
					return
				}
				last = got
			}
		})
	}
	wg.Wait()
}

// BenchmarkClock compares Clock.Now with time.Now (the wall clock read on every call).
func BenchmarkClock(b *testing.B) {
	b.Run("Clock", func(b *testing.B) {
		var c Clock
		for b.Loop() {
			_ = c.Now()
		}
	})
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now()
		}
	})
}
