package setup

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// TestHandoverPipeNotFatal: while the hand-over pipe cannot be opened (its name squatted), the service
// logs why and tries again; once it can, keys are handed over. The token service never stops for it.
func TestHandoverPipeNotFatal(t *testing.T) {
	var mu sync.Mutex
	attempts := 0
	var ln net.Listener
	listen := func() (net.Listener, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts < 3 {
			return nil, errors.New("create the key hand-over pipe: Access denied (another program holds the name)")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0") // stands in for the pipe
		ln = l
		return l, err
	}
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ks := keystore.NewMemory()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		serveHandover(ctx, listen, &keystore.HandoverServer{Store: ks, Log: log}, 10*time.Millisecond)
		close(done)
	}()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		l := ln
		mu.Unlock()
		if l != nil {
			r := keystore.NewRemote(keystore.BackendKeyring, func(ctx context.Context) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", l.Addr().String())
			})
			if _, err := r.Generate(context.Background(), "mp", 2048); err != nil {
				t.Fatalf("hand-over after the pipe freed: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never retried the pipe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if names, _ := ks.List(context.Background()); len(names) != 1 {
		t.Fatalf("keys in the service's store: %v", names)
	}
	if out := logs.String(); strings.Count(out, "not served; retrying") < 2 || !strings.Contains(out, "another program holds the name") {
		t.Errorf("the failures are not logged with their cause:\n%s", out)
	}
}
