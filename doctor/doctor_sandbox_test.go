package doctor

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// sandboxed is an organisation set up against a sandbox up to a sent request: the sandbox, the config
// file, and the Options doctor needs (memory key store, token source).
func sandboxed(t *testing.T) (*sandbox.Sandbox, Options, *config.Config) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	ks := keystore.NewMemory()
	key, err := ks.Generate(context.Background(), "maskinporten", 2048)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := keystore.Thumbprint(key.Public())
	if err := sb.RegisterClient(sandbox.Client{ID: "client-1", Org: testOrg, Scopes: append(registry.Scopes(), "altinn:systembruker.demo"),
		Keys: []sandbox.ClientKey{{KID: kid, Public: key.Public()}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := baseConfig(dir, sb.URL())
	cfg.Maskinporten.Key.Backend, cfg.Maskinporten.Key.Path = "memory", ""
	cfg.Listen = freeListen(t)
	path := writeConfig(t, dir, cfg)
	src := func(_ context.Context, cfg *config.Config, ks keystore.Store) (tokens.Source, error) {
		s, err := ks.Signer(context.Background(), cfg.Maskinporten.Key.Name)
		if err != nil {
			return nil, err
		}
		c, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
			AltinnURL: sb.AltinnURL(), ClientID: "client-1", KeyID: kid, Signer: s})
		return c, err
	}
	o := Options{ConfigPath: path, StateDir: dir, OpenKeyStore: func(*config.Config) (keystore.Store, error) { return ks, nil }, Tokens: src}
	return sb, o, cfg
}

func freeListen(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDoctorRequestPending: a sent, unanswered request is a warning showing its confirm URL, from
// Altinn and from the state file alone; once approved it is fine.
func TestDoctorRequestPending(t *testing.T) {
	sb, o, cfg := sandboxed(t)
	ctx := context.Background()
	ks, _ := o.OpenKeyStore(cfg)
	src, _ := o.Tokens(ctx, cfg, ks)
	s := &setup.Setup{Config: cfg, StateDir: o.StateDir, Registry: &registry.Client{BaseURL: sb.AltinnURL(), Tokens: src}, Tokens: src}
	if _, err := s.Run(ctx, setup.Options{}); !errors.Is(err, setup.ErrWaiting) {
		t.Fatalf("setup: %v, want waiting", err)
	}
	id := sb.Requests()[0].ID
	confirm := sb.ConfirmURL(id)
	for _, tt := range []struct {
		name   string
		tokens bool
		source string
	}{{"asking Altinn", true, "per Altinn"}, {"state file only", false, "per the state file"}} {
		t.Run(tt.name, func(t *testing.T) {
			oo := o
			if !tt.tokens {
				oo.Tokens = nil
			}
			rep := Run(ctx, oo)
			f := find(t, rep, CheckRequest, SevWarning)
			if !strings.Contains(f.Message, confirm) || !strings.Contains(f.Fix, confirm) || !strings.Contains(f.Message, tt.source) || f.Detail["confirm_url"] != confirm {
				t.Errorf("pending finding %+v, want confirm URL %s", f, confirm)
			}
			if tt.tokens {
				find(t, rep, CheckToken, SevOK)
				find(t, rep, CheckSystem, SevOK)
			}
			noSecrets(t, rep, ks, src)
		})
	}
	if err := sb.Approve(id); err != nil {
		t.Fatal(err)
	}
	rep := Run(ctx, o)
	find(t, rep, CheckRequest, SevOK)
	if rep.Failed() {
		t.Errorf("after approval:\n%s", dump(rep))
	}
}

// noSecrets fails if the report holds the key or a token.
func noSecrets(t *testing.T, rep Report, ks keystore.Store, src tokens.Source) {
	t.Helper()
	b, _ := json.Marshal(rep)
	tok, err := src.Token(context.Background(), tokens.Request{Scopes: registry.Scopes()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), tok.AccessToken) {
		t.Error("the report holds an access token")
	}
	key, _ := ks.Signer(context.Background(), "maskinporten")
	if k, ok := key.(*rsa.PrivateKey); !ok || strings.Contains(string(b), k.D.Text(16)[:32]) || strings.Contains(string(b), k.D.Text(10)[:32]) {
		t.Error("the report holds the private key (or the key is not RSA)")
	}
}

// TestDoctorPortAndCallers: a port held by another program is an error naming it; one held by the agent
// is fine; a caller's missing or wrong secret file is reported.
func TestDoctorPortAndCallers(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := baseConfig(dir, "http://127.0.0.1:1")
	cfg.Listen = ln.Addr().String()
	good := filepath.Join(dir, "good.secret")
	if err := os.WriteFile(good, []byte("s3cret"), 0o400); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("s3cret"))
	digest := hex.EncodeToString(sum[:])
	cfg.Clients = []config.Client{
		{ID: "good", SecretSHA256: digest, SecretFile: good, OSUser: selfName(t), SystemUsers: []string{"default"}, Scopes: []string{"altinn:systembruker.demo"}},
		{ID: "gone", SecretSHA256: digest, SecretFile: filepath.Join(dir, "gone.secret"), SystemUsers: []string{"default"}, Scopes: []string{"altinn:systembruker.demo"}},
		{ID: "wrong", SecretSHA256: strings.Repeat("0", 64), SecretFile: good, SystemUsers: []string{"default"}, Scopes: []string{"altinn:systembruker.demo"}},
	}
	path := writeConfig(t, dir, cfg)
	rep := Run(context.Background(), Options{ConfigPath: path, StateDir: dir, Timeout: 30 * time.Second})
	f := find(t, rep, CheckPort, SevError)
	if !strings.Contains(f.Message, "taken by another program") || !strings.Contains(f.Fix, "ss -ltnp") {
		t.Errorf("port finding %+v", f)
	}
	if runtime.GOOS == "linux" && !strings.Contains(f.Message, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("the port's owner (this test, pid %d) is not named: %s", os.Getpid(), f.Message)
	}
	if runtime.GOOS == "windows" {
		t.Skip("the callers part writes secret files with Unix modes; on Windows a secret file needs a protected DACL, which wine does not keep (docs/windows-test-plan.md step 13)")
	}
	find(t, rep, CheckCallers, SevOK)
	if w := find(t, rep, CheckCallers, SevWarning); !strings.Contains(w.Message, "gone") || !strings.Contains(w.Fix, "agent clients rotate gone") {
		t.Errorf("missing secret file: %+v", w)
	}
	if e := find(t, rep, CheckCallers, SevError); !strings.Contains(e.Message, "wrong") {
		t.Errorf("mismatching secret file: %+v", e)
	}

	// The same port held by the agent (recognised by its metrics): fine when ready, a warning when not.
	var notReady atomic.Bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			fmt.Fprintln(w, "systemuser_agent_http_requests_total 1")
		case "/readyz":
			if notReady.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"status":"not ready","reason":"system user(s) default not accepted yet"}`)
				return
			}
			fmt.Fprint(w, `{"status":"ready"}`)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	find(t, Run(context.Background(), Options{ConfigPath: path, StateDir: dir, Timeout: 30 * time.Second}), CheckPort, SevOK)
	notReady.Store(true)
	if w := find(t, Run(context.Background(), Options{ConfigPath: path, StateDir: dir, Timeout: 30 * time.Second}), CheckPort, SevWarning); !strings.Contains(w.Message, "not accepted yet") {
		t.Errorf("not ready: %+v", w)
	}
}
