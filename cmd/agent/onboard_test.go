package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

const testOrg = "314250052"

// onboardEnv is a sandbox, a memory key store with the organisation's key, and a config for both.
func onboardEnv(t *testing.T) (*sandbox.Sandbox, *config.Config, keystore.Store, tokens.Source) {
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
	scope := "altinn:systembruker.demo"
	if err := sb.RegisterClient(sandbox.Client{ID: "client-1", Org: testOrg, Scopes: append(registry.Scopes(), scope),
		Keys: []sandbox.ClientKey{{KID: "k1", Public: key.Public()}}}); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Environment: config.EnvSandbox,
		Endpoints: config.Endpoints{MaskinportenIssuer: sb.MaskinportenIssuer(), MaskinportenToken: sb.MaskinportenTokenURL(),
			Altinn: sb.AltinnURL()},
		Organization: testOrg,
		Maskinporten: config.Maskinporten{ClientID: "client-1", KID: "k1", Key: config.KeyRef{Backend: "memory", Name: "maskinporten"}},
		System: config.System{ID: testOrg + "_sap-local", Name: config.Texts{NB: "SAP lokal", NN: "SAP lokal", EN: "SAP local"},
			Description: config.Texts{NB: "Eget", NN: "Eige", EN: "Own"}, Rights: []config.Right{{Resource: sandbox.ResourceExample}}},
		SystemUsers: []config.SystemUser{{Name: "default", Scopes: []string{scope}},
			{Name: "payroll", ExternalRef: "payroll", Scopes: []string{scope}}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tc, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
		ClientID: "client-1", KeyID: "k1", Signer: key, AltinnURL: sb.AltinnURL()})
	if err != nil {
		t.Fatal(err)
	}
	return sb, cfg, ks, tokens.NewCache(tc, tokens.CacheOptions{})
}

// TestNewSetupOnboardsAndPrintsNoSecret runs the journey the demo runs through newSetup, with the
// human and the JSON event printers, and checks their output: confirm URLs shown, no token or key bytes.
func TestNewSetupOnboardsAndPrintsNoSecret(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", asJSON), func(t *testing.T) {
			sb, cfg, ks, src := onboardEnv(t)
			var out bytes.Buffer
			s, err := setup.New(cfg, t.TempDir(), ks, src, nil, printEvents(&out, asJSON))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, err = s.Run(ctx, setup.Options{})
			var code exitCodeError
			if !errors.As(exitFor(err), &code) || code.code != exitWaiting {
				t.Fatalf("first run: %v, want exit code 3", err)
			}
			var confirm []string
			for _, r := range sb.Requests() {
				confirm = append(confirm, sb.ConfirmURL(r.ID))
				if err := sb.Approve(r.ID); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Run(ctx, setup.Options{Wait: true, WaitOptions: registry.WaitOptions{Interval: time.Millisecond}}); err != nil {
				t.Fatal(err)
			}
			text := out.String()
			for _, u := range confirm {
				if !strings.Contains(text, u) {
					t.Errorf("output lacks confirm URL %s:\n%s", u, text)
				}
			}
			if asJSON {
				for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
					var ev setup.Event
					if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Step == "" {
						t.Errorf("not an event line: %q (%v)", line, err)
					}
				}
			} else if !strings.Contains(text, "approve at: ") || !strings.Contains(text, "token payroll") {
				t.Errorf("human output:\n%s", text)
			}
			tok, err := src.Token(ctx, tokens.Request{Scopes: cfg.SystemUsers[0].Scopes, Org: testOrg})
			if err != nil {
				t.Fatal(err)
			}
			key, _ := ks.Signer(ctx, "maskinporten")
			der, _ := x509.MarshalPKCS8PrivateKey(key)
			d := key.(*rsa.PrivateKey).D.Text(16)
			for name, secret := range map[string]string{"access token": tok.AccessToken, "key DER": base64.StdEncoding.EncodeToString(der)[40:80], "key D": d[:32]} {
				if strings.Contains(text, secret) {
					t.Errorf("output contains the %s", name)
				}
			}
		})
	}
}

func TestRequestAndSystemUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		text string
	}{
		{[]string{"request"}, exitUsage, "missing subcommand; one of: create, status, wait"},
		{[]string{"request", "approve"}, exitUsage, "unknown subcommand"},
		{[]string{"request", "status", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"request", "status", "--new-request"}, exitUsage, "flag provided but not defined"},
		{[]string{"request", "wait", "--interval", "-1s"}, exitUsage, "must not be negative"},
		{[]string{"request", "create", "-h"}, exitOK, "agent request create [--system-user NAME] [--new-request] [--json]"},
		{[]string{"system"}, exitUsage, "one of: register, show"},
		{[]string{"system", "show", "-h"}, exitOK, "agent system show [--json]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &env{stdout: &out, stderr: &errOut})
			if code != tt.code || !strings.Contains(out.String()+errOut.String(), tt.text) {
				t.Errorf("exit %d, want %d; output %q, want %q", code, tt.code, out.String()+errOut.String(), tt.text)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	waiting := &setup.WaitingError{Pending: []setup.Pending{{SystemUser: "default", RequestID: "r", ConfirmURL: "https://am/x"}}}
	ended := &setup.RequestEndedError{SystemUser: "default", RequestID: "r", Status: "Rejected"}
	for _, tt := range []struct {
		err  error
		code int
	}{{nil, exitOK}, {fmt.Errorf("setup: %w", waiting), exitWaiting}, {ended, exitError}, {errors.New("x"), exitError}} {
		var errOut bytes.Buffer
		if got := report(&env{stderr: &errOut}, "request", exitFor(tt.err)); got != tt.code {
			t.Errorf("%v: exit %d, want %d", tt.err, got, tt.code)
		}
	}
}
