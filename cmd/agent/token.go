package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/setup"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

func cmdToken(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags(e, "token", &c)
	suName := fs.String("system-user", "", "system user name (default: the first configured)")
	scope := fs.String("scope", "", "space-separated scopes (default: the system user's)")
	kind := fs.String("kind", "maskinporten", "token kind: maskinporten or altinn (exchanged)")
	show := fs.Bool("print-token", false, "print the access token itself (it acts for the organisation: handle with care)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if k := tokens.Kind(*kind); !k.Valid() {
		return usageError{fmt.Sprintf("--kind must be maskinporten or altinn, not %q", *kind)}
	}
	cfg, err := loadConfig(&c)
	if err != nil {
		return err
	}
	if *suName == "" && len(cfg.SystemUsers) > 0 {
		*suName = cfg.SystemUsers[0].Name
	}
	su, ok := cfg.SystemUser(*suName)
	if !ok {
		return usageError{fmt.Sprintf("no system user %q in %s", *suName, cfg.Path)}
	}
	var scopes []string
	if *scope != "" {
		scopes = strings.Fields(*scope)
	}
	ks, err := openKeyStore(cfg)
	if err != nil {
		return err
	}
	req, tok, err := setup.DebugToken(ctx, cfg, ks, su, scopes, tokens.Kind(*kind))
	if err != nil {
		return err
	}
	out := map[string]any{"request": req.String(), "expires_in": tok.ExpiresIn(time.Now()), "scope": tok.Scope,
		"claims": tokens.UnverifiedClaims(tok.AccessToken)}
	if *show {
		out["access_token"] = tok.AccessToken
	}
	if c.json {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "Got a %s token for system user %q: expires in %ds, scope %q.\n", req.Normalize().Kind, su.Name, out["expires_in"], tok.Scope)
	b, _ := json.MarshalIndent(out["claims"], "", "  ")
	fmt.Fprintf(e.stdout, "Claims (decoded, not verified):\n%s\n", b)
	if *show {
		fmt.Fprintln(e.stdout, tok.AccessToken)
	}
	return nil
}
