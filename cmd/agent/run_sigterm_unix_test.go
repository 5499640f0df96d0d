//go:build !windows

package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestRunProcessStopsCleanlyOnSIGTERM: the real agent process serves a token from the sandbox, and on
// SIGTERM with a token request in flight (the sandbox holds the grant for a while) it lets that request
// finish with a token, then exits 0.
func TestRunProcessStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := buildAgent(t)
	sb, cfg, secret, listen := startSandboxAgentConfig(t)
	dir := filepath.Dir(cfg)

	s := &server{dir: dir, cfgPath: cfg, listen: listen}
	s.start(t, bin)
	cmd, logs, exited := s.cmd, s.logs, s.exited
	deadline := time.Now().Add(20 * time.Second)

	// The first token request is cold: the agent's grant sits in the sandbox for 2 s.
	sb.Inject(sandbox.TargetMaskinporten, sandbox.Fault{Delay: 2 * time.Second, Times: 1})
	type result struct {
		tok string
		err error
	}
	got := make(chan result, 1)
	go func() {
		tok, err := setup.LocalToken(t.Context(), http.DefaultClient, "http://"+listen+"/oauth2/token", "sap", secret)
		got <- result{tok, err}
	}()
	for sb.Stats().TokenRequests == 0 { // the request has reached the upstream: it is in flight
		if time.Now().After(deadline) {
			t.Fatal("the token request never reached the sandbox")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("the request in flight at SIGTERM failed: %v\n%s", r.err, logs.String())
	}
	if _, err := sb.VerifyAccessToken(r.tok); err != nil {
		t.Fatalf("the token served during shutdown does not verify: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("agent exited with %v after SIGTERM\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("agent still running 15 s after SIGTERM\n%s", logs.String())
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(logs.String(), r.tok) {
		t.Error("the agent's log holds the caller secret or the token")
	}
}
