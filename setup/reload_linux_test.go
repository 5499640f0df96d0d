package setup

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// fakeServer is the running HTTP server as a reload sees it: it applies what loads.
type fakeServer struct {
	applied atomic.Pointer[config.Config]
}

func (f *fakeServer) ReloadWith(load func() (*config.Config, error)) error {
	c, err := load()
	if err != nil {
		return err
	}
	f.applied.Store(c)
	return nil
}
func (f *fakeServer) SetKeyExpiry(string, time.Time) {}

// reloadConfig is a valid configuration with a systemd-creds key and one caller named caller.
func reloadConfig(caller string) []byte {
	return fmt.Appendf(nil, `environment: sandbox
endpoints:
  maskinporten_issuer: http://127.0.0.1:9/maskinporten/
  maskinporten_token: http://127.0.0.1:9/maskinporten/token
  altinn: http://127.0.0.1:9/altinn
organization: "314250052"
maskinporten:
  client_id: reload-client
  key: {backend: systemd-creds, name: maskinporten}
system:
  id: 314250052_sandbox
  name: {nb: R, nn: R, en: R}
  description: {nb: R, nn: R, en: R}
system_users:
  - name: default
    scopes: [altinn:demo/read]
listen: 127.0.0.1:8450
clients:
  - id: %s
    secret_sha256: %064x
    system_users: [default]
    scopes: [altinn:demo/read]
`, caller, 1)
}

func pemKey(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// reloadService is a running token service whose key and config are systemd credentials (copied into
// a credentials directory at start), with its reload socket served for uid allow.
type reloadService struct {
	t       *testing.T
	sock    string
	srv     *fakeServer
	client  *tokens.Client
	ks      keystore.Store
	logs    *testlog.Buffer
	oldKID  string
	reloads *Reloads
}

func newReloadService(t *testing.T, allow int) *reloadService {
	t.Helper()
	creds, err := os.MkdirTemp("", "creds")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(creds) })
	old, _ := rsa.GenerateKey(rand.Reader, 2048)
	if err := os.WriteFile(filepath.Join(creds, keystore.SystemdCredName("maskinporten")), pemKey(t, old), 0o400); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(creds, "config.yaml")
	if err := os.WriteFile(cfgPath, reloadConfig("sap"), 0o400); err != nil {
		t.Fatal(err)
	}
	ks, err := keystore.Open(keystore.Options{Backend: keystore.BackendSystemdCreds, InService: true, CredentialsDir: creds})
	if err != nil {
		t.Fatal(err)
	}
	oldKID, _ := keystore.Thumbprint(old.Public())
	client, err := tokens.NewClient(tokens.ClientOptions{Issuer: "http://127.0.0.1:9/maskinporten/", TokenURL: "http://127.0.0.1:9/maskinporten/token",
		ClientID: "reload-client", KeyID: oldKID, Signer: old})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	s := &reloadService{t: t, sock: filepath.Join(creds, "reload.sock"), srv: &fakeServer{}, client: client, ks: ks, logs: logs, oldKID: oldKID, reloads: &Reloads{}}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[config.Config]
	cur.Store(cfg)
	log := slog.New(slog.NewTextHandler(logs, nil))
	s.reloads.target.Store(&ReloadTarget{ConfigPath: cfgPath, KS: ks, Server: s.srv, Client: client, Current: &cur, Log: log, StateDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.reloads.serveSocket(ctx, s.sock, allow, log); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(s.sock); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the reload socket did not appear: %v\n%s", err, logs)
		}
	}
	return s
}

// send hands config and key over as "agent service reload" does, to the process wantPID.
func (s *reloadService) send(wantPID int, cfg, key []byte) (string, error) {
	dial := func(ctx context.Context) (net.Conn, error) { return keystore.DialReloadSocket(ctx, s.sock, wantPID) }
	return keystore.NewRemote("", dial).Reload(context.Background(), cfg, key)
}

// TestReloadSocketHandsOverKeyAndConfig: the root helper's reload brings a new configuration and the
// new key credential over the socket; the service switches its signer to the new kid and applies the
// configuration, and later reads of the key store return the handed-over key, not the copy systemd made
// at start. A broken configuration, an unreadable key, a caller of another uid and a socket served by
// another process are all refused, and nothing changes.
func TestReloadSocketHandsOverKeyAndConfig(t *testing.T) {
	s := newReloadService(t, os.Getuid())
	nw, _ := rsa.GenerateKey(rand.Reader, 2048)
	newKID, _ := keystore.Thumbprint(nw.Public())

	bad := []struct {
		name       string
		cfg, key   []byte
		wantReason string
	}{
		{"broken config", []byte("environment: sandbox\norganization: [broken\n"), pemKey(t, nw), "YAML syntax"},
		{"unreadable key", reloadConfig("erp"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0, 0, 0}}), "handed-over key does not read"},
	}
	for _, tc := range bad {
		_, err := s.send(os.Getpid(), tc.cfg, tc.key)
		if !errors.Is(err, keystore.ErrReloadRefused) || !strings.Contains(err.Error(), tc.wantReason) {
			t.Errorf("%s: got %v, want a refusal saying %q", tc.name, err, tc.wantReason)
		}
		if s.client.KeyID() != s.oldKID || s.srv.applied.Load() != nil {
			t.Errorf("%s: the refused reload changed something (kid %s)", tc.name, s.client.KeyID())
		}
	}

	kid, err := s.send(os.Getpid(), reloadConfig("erp"), pemKey(t, nw))
	if err != nil || kid != newKID || s.client.KeyID() != newKID {
		t.Fatalf("reload: kid %q, client kid %q, err %v; want %s", kid, s.client.KeyID(), err, newKID)
	}
	if c := s.srv.applied.Load(); c == nil || c.Clients[0].ID != "erp" {
		t.Errorf("the handed-over configuration was not applied: %+v", c)
	}
	k, err := s.ks.Signer(context.Background(), "maskinporten")
	if err != nil || !k.Public().(*rsa.PublicKey).Equal(nw.Public()) {
		t.Errorf("the key store still gives the key from the credentials directory (%v)", err)
	}
	if got, err := keystore.NewRemote("", func(ctx context.Context) (net.Conn, error) {
		return keystore.DialReloadSocket(ctx, s.sock, os.Getpid())
	}).KeyID(context.Background()); err != nil || got != newKID {
		t.Errorf("status: kid %q, %v; want %s", got, err, newKID)
	}
	if strings.Contains(s.logs.String(), "PRIVATE KEY") {
		t.Errorf("the service's log holds key material:\n%s", s.logs)
	}

	// The sender talks only to the service's main process: a socket served by another pid gets nothing.
	if _, err := s.send(os.Getpid()+1, reloadConfig("crm"), pemKey(t, nw)); err == nil || !strings.Contains(err.Error(), "nothing was sent") {
		t.Errorf("a socket served by another process: %v", err)
	}
	if c := s.srv.applied.Load(); c.Clients[0].ID != "erp" {
		t.Errorf("a reload reached the service through a socket of the wrong process")
	}
}

// TestReloadSocketRefusesOtherUIDs: the service takes reloads from the allowed uid (root in the unit)
// only; anyone else is told so and nothing changes.
func TestReloadSocketRefusesOtherUIDs(t *testing.T) {
	s := newReloadService(t, os.Getuid()+1)
	nw, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, err := s.send(os.Getpid(), reloadConfig("erp"), pemKey(t, nw))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("only uid %d may reload", os.Getuid()+1)) {
		t.Errorf("a reload from uid %d: %v; want a refusal", os.Getuid(), err)
	}
	if s.client.KeyID() != s.oldKID || s.srv.applied.Load() != nil {
		t.Error("a refused caller changed the service")
	}
}

// TestReloadKeepsX5CGrants: with grant_header x5c the grant names the certificate chain, not a kid, so a
// reload (of anything) leaves the signing key as it is instead of switching the client to kid grants.
func TestReloadKeepsX5CGrants(t *testing.T) {
	s := newReloadService(t, os.Getuid())
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	x5c, err := tokens.NewClient(tokens.ClientOptions{Issuer: "http://127.0.0.1:9/maskinporten/", TokenURL: "http://127.0.0.1:9/maskinporten/token",
		ClientID: "reload-client", X5C: [][]byte{[]byte("certificate")}, Signer: k})
	if err != nil {
		t.Fatal(err)
	}
	s.reloads.target.Load().Client = x5c
	cfg := strings.Replace(string(reloadConfig("erp")), "  key: {backend: systemd-creds, name: maskinporten}\n",
		"  key: {backend: systemd-creds, name: maskinporten}\n  grant_header: x5c\n", 1)
	if _, err := s.send(os.Getpid(), []byte(cfg), nil); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if c := s.srv.applied.Load(); c == nil || c.Maskinporten.GrantHeader != config.GrantHeaderX5C {
		t.Fatalf("the configuration was not applied: %+v", c)
	}
	if kid := x5c.KeyID(); kid != "" {
		t.Errorf("after the reload the client signs with kid %q instead of the certificate chain", kid)
	}
}
