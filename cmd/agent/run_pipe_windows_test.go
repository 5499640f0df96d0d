package main

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
	"github.com/systemuser-agent/systemuser-agent/internal/winpipe"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestRunNamedPipeMapsAccounts is issue 12's must-show on Windows through the real wiring of `agent
// run`: serveTokens (the service body) with a config loaded from a file that sets named_pipe and a
// caller "batch" with os_user and no secret. When os_user is this process's account, a client on the
// pipe gets a system-user token by client_id alone; when os_user is another account (LOCAL SERVICE),
// the same client is disconnected before a reply. TCP keeps serving "sap" with its secret. Under wine
// every process runs as one account and the pipe's DACL is not enforced, so this shows the agent's own
// mapping; that a second real account is kept out by the DACL is docs/windows-test-plan.md step 15.
// The key is in memory (environment sandbox): outside the Windows service a keyring store goes through
// the hand-over to a service, which this test does not install.
func TestRunNamedPipeMapsAccounts(t *testing.T) {
	self, err := winpipe.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	ks := keystore.NewMemory()
	signer, err := ks.Generate(t.Context(), "maskinporten", 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := keystore.Thumbprint(signer.Public())
	clientID := setup.NewDemoID()
	if err := sb.RegisterClient(sandbox.Client{ID: clientID, Org: setup.DemoOrg, Scopes: []string{setup.DemoScope},
		Keys: []sandbox.ClientKey{{KID: kid, Public: signer.Public().(*rsa.PublicKey)}}}); err != nil {
		t.Fatal(err)
	}
	cs, err := callersecret.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := freeLoopbackAddr(t)
	base := sandboxConfig(t, sb, dir, clientID, dir, listen, cs.Digest())
	text, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	memKey := strings.Replace(string(text), "key: {backend: file, name: maskinporten, path: "+dir+"}", "key: {backend: memory, name: maskinporten}", 1)
	if memKey == string(text) {
		t.Fatal("the config's key line moved; update this test")
	}

	for _, tc := range []struct {
		osUser string
		mapped bool
	}{
		{self.String(), true},
		{"S-1-5-19", false}, // LOCAL SERVICE: not this process's account
	} {
		t.Run(fmt.Sprint("mapped=", tc.mapped), func(t *testing.T) {
			pipe := fmt.Sprintf(`\\.\pipe\systemuser-agent-test\run-%d`, time.Now().UnixNano())
			cfgPath := filepath.Join(dir, fmt.Sprintf("config-%t.yaml", tc.mapped))
			writeFile(t, cfgPath, memKey+fmt.Sprintf(`  - id: batch
    os_user: %q
    system_users: [default]
    scopes: [%s]
named_pipe: '%s'
`, tc.osUser, setup.DemoScope, pipe))
			cfg, err := config.Load(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			var logs testlog.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- serveTokens(ctx, cfg, service{configPath: cfgPath, stateDir: filepath.Join(dir, "state"), ks: ks,
					log: slog.New(slog.NewTextHandler(&logs, nil)), level: new(slog.LevelVar)})
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serveTokens: %v\n%s", err, logs.String())
				}
			}()
			waitPipe(t, pipe, done, &logs)

			tok, err := pipeToken(pipe, "batch")
			if tc.mapped {
				if err != nil {
					t.Fatalf("os_user %s (this account) on the pipe without a secret: %v\n%s", tc.osUser, err, logs.String())
				}
				if _, err := sb.VerifyAccessToken(tok); err != nil {
					t.Fatalf("the token the pipe served: %v", err)
				}
			} else if err == nil {
				t.Fatalf("os_user %s (another account): this account got a token on the pipe", tc.osUser)
			}
			if _, err := setup.LocalToken(t.Context(), http.DefaultClient, "http://"+listen+"/oauth2/token", "sap", string(cs.Reveal())); err != nil {
				t.Errorf("sap with its secret over TCP: %v", err)
			}
		})
	}
}

// waitPipe waits until the pipe exists (serveTokens opened it) or serveTokens ends.
func waitPipe(t *testing.T, pipe string, done <-chan error, logs *testlog.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := winpipe.Dial(ctx, pipe)
		cancel()
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("serveTokens ended before the pipe was open: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipe %s was not opened within 60 s: %v\n%s", pipe, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pipeToken asks for a token as client id with no secret over the pipe.
func pipeToken(pipe, id string) (string, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return winpipe.Dial(ctx, pipe) }}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}
	resp, err := c.Post("http://localhost/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}
