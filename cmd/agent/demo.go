package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// demoFlags are the demo's flags.
type demoFlags struct {
	once    bool
	json    bool
	approve string
	listen  string
}

func cmdDemo(ctx context.Context, e *env, args []string) error {
	var f demoFlags
	fs := newFlags(e, "demo", nil)
	fs.BoolVar(&f.once, "once", false, "exit after the first token is served")
	fs.BoolVar(&f.json, "json", false, "print one JSON object with the decoded claims on stdout")
	fs.StringVar(&f.approve, "approve", "auto", "how the request is approved: auto, or browser (click Approve on the sandbox page)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "agent listen address (literal loopback)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if f.approve != "auto" && f.approve != "browser" {
		return usageError{fmt.Sprintf("--approve must be auto or browser, not %q", f.approve)}
	}
	d := &demo{e: e, f: f, out: e.stdout}
	if f.json {
		d.out = e.stderr // steps go to stderr so stdout holds only the JSON object
	}
	return d.run(ctx)
}

// demo holds the demo's running parts.
type demo struct {
	e   *env
	f   demoFlags
	out io.Writer
	n   int
	// shown holds the request ids whose confirm URL was printed (and, with --approve=auto, approved).
	shown map[string]bool
}

func (d *demo) step(format string, a ...any) {
	d.n++
	fmt.Fprintf(d.out, "%2d. %s\n", d.n, fmt.Sprintf(format, a...))
}

func (d *demo) info(format string, a ...any) {
	fmt.Fprintf(d.out, "    %s\n", fmt.Sprintf(format, a...))
}

func (d *demo) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)

	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer sb.Close()
	sb.AddOrganization(setup.DemoOrg, "DEMO ORGANISASJON AS")
	d.step("Sandbox Maskinporten and Altinn running at %s (offline stand-ins, faithful to the contracts)", sb.URL())

	ks := keystore.NewMemory()
	key, err := setup.EnsureKey(ctx, ks, "maskinporten", "", setup.KeyGenerate, setup.KeyInput{})
	if err != nil {
		return err
	}
	signer, kid := key.Signer, key.KID
	d.step("Generated an RSA-2048 key in the key store (memory backend for the demo); only its public JWK leaves it:")
	d.info("%s", key.PublicJWK)

	clientID := setup.NewDemoID()
	err = sb.RegisterClient(sandbox.Client{ID: clientID, Org: setup.DemoOrg,
		Scopes: append([]string{setup.DemoScope}, sandbox.OnboardingScopes...),
		Keys:   []sandbox.ClientKey{{KID: kid, Public: signer.Public()}}})
	if err != nil {
		return err
	}
	d.step("Registered the public JWK on Maskinporten client %s of organisation %s (in real life: Samarbeidsportalen)", clientID, setup.DemoOrg)

	secret, err := callersecret.New()
	if err != nil {
		return err
	}
	cfg := setup.DemoConfig(config.Endpoints{MaskinportenIssuer: sb.MaskinportenIssuer(), MaskinportenToken: sb.MaskinportenTokenURL(), Altinn: sb.AltinnURL()}, clientID, kid, secret.Digest(), d.f.listen)
	dir, remove, err := setup.ScratchDir()
	if err != nil {
		return err
	}
	defer remove()

	hc := &http.Client{Timeout: 15 * time.Second}
	client, err := setup.TokenClient(cfg, signer, kid, hc, quiet)
	if err != nil {
		return err
	}
	cache := setup.TokenCache(cfg, client, quiet)
	st, err := setup.New(cfg, dir, ks, cache, hc, func(ev setup.Event) { d.onEvent(sb, ev) })
	if err != nil {
		return err
	}
	if _, err := st.Run(ctx, setup.Options{Wait: true}); err != nil {
		return err
	}

	srv, err := agent.New(agent.Options{Config: cfg, Tokens: cache, Logger: quiet, SystemUserID: setup.SystemUserIDs(dir)})
	if err != nil {
		return err
	}
	ln, err := agent.Listen(ctx, cfg.Listen)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Run(ctx, ln) }()
	tokenURL := "http://" + ln.Addr().String() + "/oauth2/token"
	d.step("Agent serving OAuth2 client_credentials at %s", tokenURL)

	netrc := filepath.Join(dir, "netrc")
	host := strings.Split(ln.Addr().String(), ":")[0]
	if err := callersecret.WriteNetrc(netrc, host, setup.DemoCallerID, secret); err != nil {
		return err
	}
	tok, err := setup.LocalToken(ctx, hc, tokenURL, setup.DemoCallerID, string(secret.Reveal()))
	if err != nil {
		return fmt.Errorf("get a token from the local agent: %w", err)
	}
	claims, err := sb.VerifyAccessToken(tok)
	if err != nil {
		return fmt.Errorf("the served token does not verify against the sandbox's JWKS: %w", err)
	}
	d.step("Fetched a token from the agent as local software would (client_secret_basic); its claims:")
	pretty, _ := json.MarshalIndent(claims, "    ", "  ")
	d.info("%s", pretty)
	if !d.f.once { // with --once nothing serves once the demo exits: no command to offer
		d.step("Get one yourself (the demo caller's credentials are in a netrc file, not on the command line):")
		d.info("curl --netrc-file %s -d grant_type=client_credentials %s", netrc, tokenURL)
	}

	if d.f.json {
		if err := printJSON(d.e.stdout, map[string]any{"token_url": tokenURL, "claims": claims}); err != nil {
			return err
		}
	}
	if d.f.once {
		cancel()
		<-served
		return nil
	}
	d.info("Serving until Ctrl-C.")
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	return <-served
}

// onEvent prints a setup event and, in the demo, acts as the admin who approves at the confirm URL.
func (d *demo) onEvent(sb *sandbox.Sandbox, ev setup.Event) {
	switch {
	case ev.Status == setup.StatusFailed:
		d.step("%s failed: %s", ev.Step, ev.Message)
	case ev.Step == setup.StepApproval && ev.Status == setup.StatusWaiting && ev.ConfirmURL != "" && !d.shown[ev.RequestID]:
		if d.shown == nil {
			d.shown = map[string]bool{}
		}
		d.shown[ev.RequestID] = true
		d.step("System user request %s sent to %s; an admin must approve it at:", ev.RequestID, setup.DemoOrg)
		d.info("%s", ev.ConfirmURL)
		if d.f.approve == "auto" {
			if err := sb.Approve(ev.RequestID); err != nil {
				d.info("automatic approval failed: %v", err)
				return
			}
			d.info("Approved automatically, as the admin would by clicking Approve (use --approve=browser to click it yourself).")
		} else {
			d.info("Open it in a browser and click Approve; waiting.")
		}
	case ev.Status == setup.StatusDone || ev.Status == setup.StatusSkipped:
		d.step("%s: %s", ev.Step, ev.Message)
	}
}
