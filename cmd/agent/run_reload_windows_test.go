package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// The child's settings, from the parent (TestRunWindowsReloadOverPipe).
const (
	reloadChildConfig = "SUA_RELOAD_CHILD_CONFIG"
	reloadChildPipe   = "SUA_RELOAD_CHILD_PIPE"
)

// TestRunWindowsReloadChild is the serving process of TestRunWindowsReloadOverPipe: "agent run"'s
// service body (serveTokens) as the Windows service runs it (InService: the key in this account's
// Credential Manager vault, reached through the hand-over pipe), until its stdin closes.
func TestRunWindowsReloadChild(t *testing.T) {
	cfgPath, pipe := os.Getenv(reloadChildConfig), os.Getenv(reloadChildPipe)
	if cfgPath == "" {
		t.Skip("the serving process of TestRunWindowsReloadOverPipe; runs only as its child")
	}
	self, err := winpipe.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := setup.OpenKeyStore(cfg.Maskinporten.Key, true, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	err = serveTokens(ctx, cfg, service{configPath: cfgPath, stateDir: filepath.Join(filepath.Dir(cfgPath), "state"), ks: ks,
		inService: true, log: slog.New(slog.NewTextHandler(os.Stderr, nil)), level: new(slog.LevelVar),
		handover: keystore.HandoverEndpoint{Pipe: pipe, Account: self.String()}})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("serveTokens: %v", err)
	}
}

// TestRunWindowsReloadOverPipe is issue 14's Windows reload: a serving process (this test binary as
// TestRunWindowsReloadChild: serveTokens as the Windows service runs it, its key in Credential
// Manager) gets its key through the hand-over pipe, serves callers without pause, and then, over the
// same pipe and with what "agent keys rotate" and "agent keys activate" call (setup.RotateKey,
// setup.ActivateKey on the pipe's Remote store), a new key; the reload message ("agent service reload",
// and what "keys activate" sends) makes it sign with the new key: the reply names the new kid, the old
// key is removed from the client and fresh grants still succeed, the process is the same one (it never
// exited, one "serving tokens" line), and no caller request failed. A reload with a broken config is
// refused with the reason, and the old one keeps serving.
func TestRunWindowsReloadOverPipe(t *testing.T) {
	self, err := winpipe.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Options{TokenLifetime: 15 * time.Second})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	placeholder, _ := rsa.GenerateKey(rand.Reader, 2048) // the client exists before the service's key does
	clientID := setup.NewDemoID()
	if err := sb.RegisterClient(sandbox.Client{ID: clientID, Org: setup.DemoOrg, Scopes: []string{setup.DemoScope},
		Keys: []sandbox.ClientKey{{KID: "placeholder", Public: placeholder.Public()}}}); err != nil {
		t.Fatal(err)
	}
	cs, err := callersecret.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := freeLoopbackAddr(t)
	keyName := fmt.Sprintf("reload-%d", time.Now().UnixNano())
	cfgPath := sandboxConfig(t, sb, dir, clientID, dir, listen, cs.Digest())
	text, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(string(text), "key: {backend: file, name: maskinporten, path: "+dir+"}", "key: {backend: keyring, name: "+keyName+"}", 1)
	if good == string(text) {
		t.Fatal("the config's key line moved; update this test")
	}
	writeFile(t, cfgPath, good)
	ep := keystore.HandoverEndpoint{Pipe: fmt.Sprintf(`\\.\pipe\systemuser-agent-test\reload-%d`, time.Now().UnixNano()), Account: self.String()}

	var logs testlog.Buffer
	child := exec.Command(os.Args[0], "-test.run=^TestRunWindowsReloadChild$", "-test.v")
	child.Env = append(os.Environ(), reloadChildConfig+"="+cfgPath, reloadChildPipe+"="+ep.Pipe)
	child.Stdout, child.Stderr = &logs, &logs
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	remote := keystore.NewRemote(keystore.BackendKeyring, keystore.HandoverDialer(ep))
	t.Cleanup(func() {
		for _, n := range []string{keyName, keystore.PreviousName(keyName), keystore.NextName(keyName)} {
			_ = remote.Delete(context.Background(), n)
		}
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the serving process ended with %v\n%s", err, logs.String())
			}
		case <-time.After(60 * time.Second):
			_ = child.Process.Kill()
			t.Errorf("the serving process did not stop when its stdin closed\n%s", logs.String())
		}
	})
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("the serving process exited (%v) while waiting for %s\n%s", err, what, logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s\n%s", timeout, what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ctx := context.Background()
	var first *rsa.PublicKey
	waitFor("the hand-over pipe to take the key", 60*time.Second, func() bool {
		k, err := remote.Generate(ctx, keyName, 2048)
		if err == nil {
			first = k.Public().(*rsa.PublicKey)
		}
		return err == nil
	})
	oldKID, _ := keystore.Thumbprint(first)
	if err := sb.AddClientKey(clientID, sandbox.ClientKey{KID: oldKID, Public: first}); err != nil {
		t.Fatal(err)
	}
	token := func() error {
		_, err := setup.LocalToken(ctx, http.DefaultClient, "http://"+listen+"/oauth2/token", "sap", string(cs.Reveal()))
		return err
	}
	waitFor("the service to serve with the key it was handed", 60*time.Second, func() bool { return token() == nil })

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
				if err := token(); err != nil {
					failed.Add(1)
					t.Errorf("caller: %v", err)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	stopCallers := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopCallers()
	waitFor("callers served", 30*time.Second, func() bool { return ok.Load() > 20 })

	active, next, err := setup.RotateKey(ctx, remote, keyName, "", 2048) // agent keys rotate
	if err != nil || active.KID != oldKID {
		t.Fatalf("rotate over the pipe: %v (active kid %s, want %s)", err, active.KID, oldKID)
	}
	nextKey, err := remote.Signer(ctx, keystore.NextName(keyName))
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.AddClientKey(clientID, sandbox.ClientKey{KID: next.KID, Public: nextKey.Public()}); err != nil { // the upload
		t.Fatal(err)
	}
	if _, _, err := setup.ActivateKey(ctx, remote, keyName); err != nil { // agent keys activate
		t.Fatalf("activate over the pipe: %v", err)
	}
	if kid, _ := remote.KeyID(ctx); kid != oldKID {
		t.Fatalf("before the reload the service signs with %q, want the old kid %s", kid, oldKID)
	}
	kid, err := remote.Reload(ctx, nil, nil) // agent service reload
	if err != nil || kid != next.KID {
		t.Fatalf("reload over the pipe: kid %q, %v; want %s\n%s", kid, err, next.KID, logs.String())
	}
	if err := sb.RemoveClientKey(clientID, oldKID); err != nil { // only the new key works from here
		t.Fatal(err)
	}
	grants := sb.Stats().TokensIssued
	waitFor("two fresh grants signed with the new key", 60*time.Second, func() bool { return sb.Stats().TokensIssued >= grants+2 })
	served := ok.Load()
	waitFor("callers served after the switch", 30*time.Second, func() bool { return ok.Load() > served+20 })

	// A broken config is refused with the reason; the old one keeps serving.
	writeFile(t, cfgPath, "environment: sandbox\norganization: [broken\n")
	if _, err := remote.Reload(ctx, nil, nil); !errors.Is(err, keystore.ErrReloadRefused) || !strings.Contains(err.Error(), "does not load") {
		t.Errorf("reload with a broken config: %v; want a refusal saying it does not load", err)
	}
	writeFile(t, cfgPath, good)
	served = ok.Load()
	waitFor("callers served after the refused reload", 30*time.Second, func() bool { return ok.Load() > served+20 })
	stopCallers()

	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("the serving process exited during the switch: %v", err)
	default:
	}
	if child.Process.Pid != pid || strings.Count(logs.String(), `msg="serving tokens"`) != 1 {
		t.Errorf("the service started more than once (pid %d, then %d)\n%s", pid, child.Process.Pid, logs.String())
	}
	t.Logf("rotate + activate + reload over the pipe in process %d under load: %d requests, %d failed", pid, ok.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Errorf("%d caller requests failed", failed.Load())
	}
}
