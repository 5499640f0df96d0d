package agent

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// TestReload: a new caller, a caller's narrower scopes and a new log level apply without a restart;
// the same server answers throughout.
func TestReload(t *testing.T) {
	level := new(slog.LevelVar)
	a := startAgent(t, func(o *Options) { o.LogLevel = level })
	if r := a.tokenFor(t, idA, secretA, url.Values{"scope": {"test:a2"}}); r.status != 200 {
		t.Fatalf("before: %v", r)
	}
	const idC, secretC = "newcomer", "sC.canary.5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
	canaries.add("caller secret", secretC, "")
	if r := a.tokenFor(t, idC, secretC, nil); r.status != 401 {
		t.Fatalf("unknown caller before reload: %v", r)
	}
	cfg := testConfig()
	cfg.Clients[0].Scopes = []string{"test:a1"}
	cfg.Clients = append(cfg.Clients, config.Client{ID: idC, SecretSHA256: hexSHA(secretC), SystemUsers: []string{"second"},
		Scopes: []string{"test:b2"}})
	cfg.Log.Level = "warn"
	if err := a.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if r := a.tokenFor(t, idC, secretC, nil); r.status != 200 {
		t.Fatalf("new caller after reload: %v", r)
	}
	if r := a.tokenFor(t, idA, secretA, url.Values{"scope": {"test:a2"}}); r.status != 400 || r.str("error") != "invalid_scope" {
		t.Fatalf("removed scope after reload: %v", r)
	}
	if r := a.tokenFor(t, idA, secretA, url.Values{"scope": {"test:a1"}}); r.status != 200 {
		t.Fatalf("kept scope after reload: %v", r)
	}
	if level.Level() != slog.LevelWarn {
		t.Fatalf("log level after reload: %v", level.Level())
	}
}

// TestReloadRefusesBrokenConfig: a config that does not load, one with a bad caller, and one changing
// what needs a restart are refused with the reason in the error and the log; the old config keeps
// serving (a caller of the old config gets tokens, one of the refused config does not).
func TestReloadRefusesBrokenConfig(t *testing.T) {
	a := startAgent(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte("environment: test\norganization: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badSecret := testConfig()
	badSecret.Clients = append(badSecret.Clients, config.Client{ID: "extra", SecretSHA256: "not-hex",
		SystemUsers: []string{"default"}, Scopes: []string{"test:a1"}})
	badSecret.Clients[0].Scopes = []string{"test:a1"}
	moved := testConfig()
	moved.Listen = "127.0.0.1:7171"
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"file does not load", func() error { return a.srv.ReloadWith(func() (*config.Config, error) { return config.Load(path) }) },
			"agent.yaml"},
		{"bad caller secret digest", func() error { return a.srv.Reload(badSecret) }, "clients[2].secret_sha256"},
		{"listen changed", func() error { return a.srv.Reload(moved) }, "changes listen"},
		{"unix_socket added", func() error {
			c := testConfig()
			c.UnixSocket = "/run/systemuser-agent/token.sock"
			return a.srv.Reload(c)
		},
			"changes unix_socket"},
		{"named_pipe added", func() error {
			c := testConfig()
			c.NamedPipe = `\\.\pipe\systemuser-agent\token`
			return a.srv.Reload(c)
		},
			"changes named_pipe"},
		{"bad log level", func() error { c := testConfig(); c.Log.Level = "loud"; return a.srv.Reload(c) }, "log.level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to name %q", err, tc.want)
			}
			logs := a.logs.String()
			if !strings.Contains(logs, "configuration reload refused; the old configuration keeps serving") ||
				!strings.Contains(logs, tc.want) {
				t.Fatalf("log does not say why:\n%s", logs)
			}
			// The old config serves: A keeps test:a2 (the refused config would have removed it).
			if r := a.tokenFor(t, idA, secretA, url.Values{"scope": {"test:a2"}}); r.status != 200 {
				t.Fatalf("old config not serving: %v", r)
			}
		})
	}
}

// TestReloadUnderLoad: callers never fail while the configuration is reloaded again and again.
func TestReloadUnderLoad(t *testing.T) {
	a := startAgent(t, nil)
	var failed, ok atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if r := a.tokenFor(t, idA, secretA, url.Values{"scope": {"test:a1"}}); r.status != http.StatusOK {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	for i := range 50 {
		cfg := testConfig()
		if i%2 == 0 {
			cfg.Clients[1].Scopes = []string{"test:b1"}
		}
		if err := a.srv.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	for ok.Load() < 50 && failed.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during reloads", failed.Load(), failed.Load()+ok.Load())
	}
}

// TestReloadOSUserNeedsRestartWithTransport: with unix_socket set, the os_user accounts are the socket's
// access list, made at start: a reload adding an account is refused naming it, while a reload that keeps
// the accounts (a new caller with a secret) applies. Without a socket or pipe, os_user may change freely.
func TestReloadOSUserNeedsRestartWithTransport(t *testing.T) {
	withSocket := func(c *config.Config) *config.Config {
		c.UnixSocket = "/run/systemuser-agent/token.sock"
		c.Clients[0].OSUser = "batch"
		return c
	}
	a := startAgent(t, func(o *Options) { o.Config = withSocket(testConfig()) })
	more := withSocket(testConfig())
	more.Clients[1].OSUser = "report"
	if err := a.srv.Reload(more); err == nil || !strings.Contains(err.Error(), "os_user") {
		t.Fatalf("reload adding an os_user with a socket: %v", err)
	}
	same := withSocket(testConfig())
	same.Clients = append(same.Clients, config.Client{ID: "extra", SecretSHA256: hexSHA(secretA),
		SystemUsers: []string{"default"}, Scopes: []string{"test:a1"}})
	if err := a.srv.Reload(same); err != nil {
		t.Fatalf("reload keeping the os_user accounts: %v", err)
	}
	b := startAgent(t, nil)
	free := testConfig()
	free.Clients[1].OSUser = "report"
	if err := b.srv.Reload(free); err != nil {
		t.Fatalf("reload changing os_user without a socket or pipe: %v", err)
	}
}
