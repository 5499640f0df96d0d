package registry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// script serves GET /systemuser/request/vendor/req-1 from a list of replies, the last one repeating, and
// records when each poll came (on the synctest clock).
type script struct {
	mu      sync.Mutex
	replies []http.HandlerFunc
	polls   []time.Time
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.polls = append(s.polls, time.Now())
	h := s.replies[min(len(s.polls), len(s.replies))-1]
	s.mu.Unlock()
	h(w, r)
}

func status(st string, timedOut bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(Request{ID: "req-1", Status: st, TimedOut: timedOut, ConfirmURL: "https://am.example/x"})
		reply(200, b)(w, r)
	}
}

func TestWaitForApproval(t *testing.T) {
	tests := []struct {
		name     string
		replies  []http.HandlerFunc
		status   string
		timedOut bool
		polls    int
		errText  string
	}{
		{"accepted after three New", []http.HandlerFunc{status("New", false), status("New", false), status("New", false), status("Accepted", false)}, "Accepted", false, 4, ""},
		{"lower-case status", []http.HandlerFunc{status("new", false), status("accepted", false)}, "accepted", false, 2, ""},
		{"rejected", []http.HandlerFunc{status("New", false), status("Rejected", false)}, "Rejected", false, 2, ""},
		{"denied", []http.HandlerFunc{status("Denied", false)}, "Denied", false, 1, ""},
		{"old Timedout status", []http.HandlerFunc{status("New", false), status("Timedout", false)}, "Timedout", false, 2, ""},
		{"timedOut flag, status unchanged", []http.HandlerFunc{status("New", false), status("New", true)}, "New", true, 2, ""},
		{"transient failures are polled through", []http.HandlerFunc{reply(503, nil), reply(429, nil), status("Accepted", false)}, "Accepted", false, 3, ""},
		{"deleted request ends the wait", []http.HandlerFunc{status("New", false), reply(404, `{"code":"AUTH-00010","status":404,"title":"gone"}`)}, "", false, 2, "AUTH-00010"},
		{"too many failures in a row", []http.HandlerFunc{reply(500, nil)}, "", false, maxPollFailures, "10 polls in a row failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &script{replies: tt.replies}
				f := newFake(t).on("GET", "systemuser/request/vendor/req-1", s.ServeHTTP)
				c := &Client{BaseURL: "http://altinn.invalid", HTTPClient: &http.Client{Transport: handlerTransport{f}}, Tokens: &fakeTokens{}}
				var seen []string
				r, err := c.WaitForApproval(context.Background(), "req-1", WaitOptions{Interval: time.Second, MaxInterval: 4 * time.Second,
					Progress: func(r *Request) { seen = append(seen, r.Status) }})
				if len(s.polls) != tt.polls {
					t.Errorf("%d polls, want %d", len(s.polls), tt.polls)
				}
				if tt.errText != "" {
					if err == nil || !strings.Contains(err.Error(), tt.errText) {
						t.Fatalf("error %v, want %q", err, tt.errText)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != tt.status || r.TimedOut != tt.timedOut || !r.Final() {
					t.Errorf("got %+v", r)
				}
				if len(seen) == 0 || seen[len(seen)-1] != tt.status {
					t.Errorf("progress saw %v", seen)
				}
				// Waits grow 1s, 1.5s, 2.25s, ... (±20%), capped at 4s, never shrinking below the cap's jitter.
				for i := 1; i < len(s.polls); i++ {
					d := s.polls[i].Sub(s.polls[i-1])
					base := min(time.Duration(float64(time.Second)*pow(1.5, i-1)), 4*time.Second)
					if d < base*8/10 || d > base*12/10 {
						t.Errorf("wait %d = %v, want %v ±20%%", i, d, base)
					}
				}
			})
		})
	}
}

func pow(b float64, n int) float64 {
	r := 1.0
	for range n {
		r *= b
	}
	return r
}

func TestWaitForApprovalCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &script{replies: []http.HandlerFunc{status("New", false)}}
		f := newFake(t).on("GET", "systemuser/request/vendor/req-1", s.ServeHTTP)
		c := &Client{BaseURL: "http://altinn.invalid", HTTPClient: &http.Client{Transport: handlerTransport{f}}, Tokens: &fakeTokens{}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.WaitForApproval(ctx, "req-1", WaitOptions{Interval: time.Minute})
			done <- err
		}()
		time.Sleep(90 * time.Second) // fake clock: two polls so far
		synctest.Wait()
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
		default:
			t.Fatal("WaitForApproval did not return on cancel")
		}
		if len(s.polls) != 2 {
			t.Errorf("%d polls before cancel, want 2", len(s.polls))
		}
	})
}
