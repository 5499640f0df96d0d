package agent

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestTokenWaitBound: a token source that never answers (a hanging upstream) does not hang the caller:
// at Timeouts.Token the caller gets 503 temporarily_unavailable with Retry-After, and the source saw its
// context end (the shared fetch is the cache's to finish).
func TestTokenWaitBound(t *testing.T) {
	a := startAgent(t, func(o *Options) { o.Timeouts = Timeouts{Token: 50 * time.Millisecond} })
	a.src.set(func(f *fakeSource) { f.block = make(chan struct{}) }) // never closed: only ctx ends the wait
	r := a.tokenFor(t, idA, secretA, nil)
	if r.status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" {
		t.Fatalf("hanging source answered %s, want 503 temporarily_unavailable", r)
	}
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}

// TestTokenWaitDefaults: the bound defaults to 5 s and always stays below the write timeout.
func TestTokenWaitDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Timeouts
		want time.Duration
	}{
		{"defaults", Timeouts{}, 5 * time.Second},
		{"set", Timeouts{Token: time.Second}, time.Second},
		{"short write", Timeouts{Write: 2 * time.Second}, time.Second},
		{"token above write", Timeouts{Write: 3 * time.Second, Token: 8 * time.Second}, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.withDefaults().Token; got != tc.want {
				t.Errorf("Token = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestWaitBoundLazy: the bound costs nothing until someone waits (a cache hit never does); then Done
// closes at the deadline with DeadlineExceeded, or with the request's own end.
func TestWaitBoundLazy(t *testing.T) {
	t.Run("never waited", func(t *testing.T) {
		b := newWaitBound(context.Background(), time.Hour)
		b.stop()
		if b.bounded != nil {
			t.Fatal("a timer context was made although nobody waited")
		}
		if b.Done() != nil || b.Err() != nil { // the background parent's
			t.Error("a stopped, never-waited bound must behave as its parent")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		b := newWaitBound(context.Background(), time.Millisecond)
		defer b.stop()
		<-b.Done()
		if !errors.Is(b.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", b.Err())
		}
		if d, ok := b.Deadline(); !ok || d.IsZero() {
			t.Errorf("Deadline = %v %v", d, ok)
		}
	})
	t.Run("request ends first", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		b := newWaitBound(parent, time.Hour)
		defer b.stop()
		cancel()
		<-b.Done()
		if !errors.Is(b.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", b.Err())
		}
	})
	t.Run("parent deadline sooner", func(t *testing.T) {
		soon := time.Now().Add(time.Second)
		parent, cancel := context.WithDeadline(context.Background(), soon)
		defer cancel()
		b := newWaitBound(parent, time.Hour)
		defer b.stop()
		if d, _ := b.Deadline(); !d.Equal(soon) {
			t.Errorf("Deadline = %v, want the parent's %v", d, soon)
		}
	})
}
