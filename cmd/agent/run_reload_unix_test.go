//go:build !windows

package main

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// TestRunProcessRotatesKeyOnSIGHUP: a real agent process serves tokens to callers that ask without pause.
// `agent keys rotate` makes the next key, its public key is registered on the client, `agent keys
// activate` makes it the active key, and SIGHUP makes the running process (same PID, never restarted)
// sign with it. The old key is then removed from the client, and fresh grants keep working (the sandbox's
// tokens live 15 s, so the cache keeps fetching). No caller request fails. A broken config sent with
// SIGHUP is refused with the reason logged, and the old one keeps serving.
func TestRunProcessRotatesKeyOnSIGHUP(t *testing.T) {
	bin := buildAgent(t)
	f := newAgentFixture(t, sandbox.Options{TokenLifetime: 15 * time.Second})
	sb, dir, ks, oldKID, clientID, secret, listen, cfgPath := f.sb, f.dir, f.ks, f.kid, f.clientID, f.secret, f.listen, f.cfgPath
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	s := &server{dir: dir, cfgPath: cfgPath, listen: listen, secret: secret}
	s.start(t, bin)
	cmd, logs, exited, pid := s.cmd, s.logs, s.exited, s.cmd.Process.Pid
	waitFor := func(what string, cond func() bool) { t.Helper(); waitUntil(t, what, s, cond) }

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	load(t, stop, &wg, &ok, &failed, s, s, s)
	defer func() { close(stop); wg.Wait() }()
	waitFor("callers served", func() bool { return ok.Load() > 20 })

	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--config", cfgPath)...).CombinedOutput()
		if err != nil {
			t.Fatalf("agent %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("keys", "rotate")
	next, err := ks.Signer(t.Context(), keystore.NextName("maskinporten"))
	if err != nil {
		t.Fatal(err)
	}
	newKID, _ := keystore.Thumbprint(next.Public())
	// The upload of {old, new}: the new key is registered before anything signs with it.
	if err := sb.AddClientKey(clientID, sandbox.ClientKey{KID: newKID, Public: next.Public()}); err != nil {
		t.Fatal(err)
	}
	run("keys", "activate")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the running agent to switch keys", func() bool {
		return strings.Contains(logs.String(), "the Maskinporten signing key was switched")
	})
	if !strings.Contains(logs.String(), "kid="+newKID) {
		t.Fatalf("the switch does not name the new kid %s\n%s", newKID, logs.String())
	}
	// The old key leaves the client: only grants signed with the new key work from now on.
	if err := sb.RemoveClientKey(clientID, oldKID); err != nil {
		t.Fatal(err)
	}
	grants := sb.Stats().TokenRequests
	waitFor("two fresh grants after the old key was removed", func() bool { return sb.Stats().TokenRequests >= grants+2 })

	// A broken config is refused; the old one keeps serving.
	writeFile(t, cfgPath, "environment: sandbox\norganization: [broken\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor("the refusal in the log", func() bool {
		return strings.Contains(logs.String(), "configuration reload refused; the old configuration keeps serving")
	})
	writeFile(t, cfgPath, string(good))
	n := ok.Load()
	waitFor("callers served after the refused reload", func() bool { return ok.Load() > n+20 })

	if failed.Load() != 0 {
		t.Fatalf("%d of %d caller requests failed", failed.Load(), failed.Load()+ok.Load())
	}
	select {
	case err := <-exited:
		t.Fatalf("the agent exited (%v): it must keep running through the rotation", err)
	default:
	}
	if cmd.Process.Pid != pid {
		t.Fatal("the agent was restarted")
	}
	t.Logf("%d caller requests, 0 failed, one process (pid %d)", ok.Load(), pid)
	if strings.Contains(logs.String(), secret) {
		t.Error("the log holds the caller secret")
	}
}
