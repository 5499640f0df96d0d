//go:build !windows

package main

import (
	"crypto"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// server is one agent installation: its key directory, config and (once started) process.
type server struct {
	dir, cfgPath, listen, secret, kid, clientID string
	ks                                          keystore.Store
	logs                                        *testlog.Buffer
	cmd                                         *exec.Cmd
	exited                                      chan error
}

// newServer makes a file-backend key and a config for the organisation's system on client clientID.
func newServer(t *testing.T, sb *sandbox.Sandbox, clientID, sysID string) *server {
	t.Helper()
	s := &server{dir: t.TempDir(), clientID: clientID, listen: freeLoopbackAddr(t)}
	var err error
	if s.ks, err = keystore.Open(keystore.Options{Backend: keystore.BackendFile, Dir: filepath.Join(s.dir, "keys"), AllowFile: true}); err != nil {
		t.Fatal(err)
	}
	signer, err := s.ks.Generate(t.Context(), "maskinporten", 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.kid, _ = keystore.Thumbprint(signer.Public())
	cs, err := callersecret.New()
	if err != nil {
		t.Fatal(err)
	}
	s.secret = string(cs.Reveal())
	s.cfgPath = filepath.Join(s.dir, "config.yaml")
	writeSandboxConfig(t, s.cfgPath, sb, clientID, filepath.Join(s.dir, "keys"), sysID, s.listen, cs.Digest())
	return s
}

func (s *server) public(t *testing.T, name string) crypto.PublicKey {
	t.Helper()
	k, err := s.ks.Signer(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// agent runs a CLI command of this server.
func (s *server) agent(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append(args, "--config", s.cfgPath, "--state-dir", filepath.Join(s.dir, "state"))...).CombinedOutput()
	if err != nil {
		t.Fatalf("agent %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// run starts `agent run` from bin on the server's config, with its state in dir/state and its output in
// logs, and kills it when the test ends.
func (s *server) run(t *testing.T, bin string) {
	t.Helper()
	if s.logs == nil {
		s.logs = &testlog.Buffer{}
	}
	s.cmd = exec.Command(bin, "run", "--config", s.cfgPath, "--state-dir", filepath.Join(s.dir, "state"))
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() { _ = s.cmd.Process.Kill() })
}

// start runs the server (see run) and waits until it answers /healthz.
func (s *server) start(t *testing.T, bin string) {
	t.Helper()
	s.run(t, bin)
	waitUntil(t, "server "+s.listen+" to serve", s, func() bool {
		resp, err := http.Get("http://" + s.listen + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

func (s *server) token(t *testing.T) (string, error) {
	return setup.LocalToken(t.Context(), http.DefaultClient, "http://"+s.listen+"/oauth2/token", "sap", s.secret)
}

// waitUntil waits up to 60 s for cond, failing if the time runs out or the (started) server s exits first.
func waitUntil(t *testing.T, what string, s *server, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if s != nil && s.exited != nil {
			select {
			case err := <-s.exited:
				t.Fatalf("server %s exited (%v) while waiting for %s\n%s", s.listen, err, what, s.logs.String())
			default:
			}
		}
		if time.Now().After(deadline) {
			if s != nil && s.logs != nil {
				t.Fatalf("timed out waiting for %s\n%s", what, s.logs.String())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// load asks each server for tokens without pause until stop closes; it counts successes and failures.
func load(t *testing.T, stop <-chan struct{}, wg *sync.WaitGroup, ok, failed *atomic.Int64, servers ...*server) {
	for _, s := range servers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.token(t); err != nil {
					failed.Add(1)
					t.Errorf("server %s: %v", s.listen, err)
				} else {
					ok.Add(1)
				}
			}
		})
	}
}
