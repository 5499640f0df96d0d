package peer

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServe: every listener is served; ctx's end stops all with nil; one listener's failure stops the
// others and is returned.
func TestServe(t *testing.T) {
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	served := make(chan string, 2)
	run := func(ctx context.Context, ln net.Listener) error {
		defer ln.Close()
		served <- ln.Addr().String()
		if ln.Addr().String() == "fail" {
			return errors.New("boom")
		}
		<-ctx.Done()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	a, b := listen(), listen()
	go func() { done <- Serve(ctx, run, a, b) }()
	got := map[string]bool{<-served: true, <-served: true}
	if !got[a.Addr().String()] || !got[b.Addr().String()] {
		t.Fatalf("served %v, want both listeners", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("after ctx ended: %v", err)
	}

	go func() { done <- Serve(context.Background(), run, listen(), failing{listen()}) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("one listener failed: Serve returned %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve went on after a listener failed")
	}
}

// failing is a listener whose address says run must fail.
type failing struct{ net.Listener }

func (failing) Addr() net.Addr { return fakeAddr{} }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "tcp" }
func (fakeAddr) String() string  { return "fail" }

// TestOpenNothing: with neither transport set, Open opens nothing.
func TestOpenNothing(t *testing.T) {
	lns, err := Open("", "", []string{"x"})
	if err != nil || len(lns) != 0 {
		t.Fatalf("Open with nothing set: %v, %v", lns, err)
	}
}
