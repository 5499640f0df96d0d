//go:build !windows

package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

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

	var logs syncBuffer
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--state-dir", filepath.Join(dir, "state"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			select {
			case err := <-exited:
				t.Fatalf("the agent exited (%v) while waiting for %s\n%s", err, what, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the agent to serve", func() bool {
		resp, err := http.Get("http://" + listen + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := setup.LocalToken(t.Context(), http.DefaultClient, "http://"+listen+"/oauth2/token", "sap", secret); err != nil {
					failed.Add(1)
					t.Errorf("caller: %v", err)
				} else {
					ok.Add(1)
				}
			}
		})
	}
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
