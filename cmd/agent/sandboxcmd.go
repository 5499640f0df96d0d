package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// sandboxSystemName is the name part of the system --seed-system-user registers: "<org>_sandbox".
const sandboxSystemName = "sandbox"

func cmdSandbox(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sandbox", nil)
	listen := fs.String("listen", "127.0.0.1:8900", "address to serve the fake Maskinporten and Altinn on (loopback)")
	org := fs.String("org", "", "organisation number to register a Maskinporten client for")
	clientID := fs.String("client-id", "", "Maskinporten client id to register")
	jwkFile := fs.String("jwk-file", "", "public JWK of the client (from \"agent keys public\"), or - for stdin")
	lifetime := fs.Duration("token-lifetime", 120*time.Second, "lifetime of issued Maskinporten tokens")
	seedUser := fs.Bool("seed-system-user", false, "with --org and --client-id: register the system <org>_"+sandboxSystemName+
		" for the client and an accepted system user of --org, so \"agent run\" gets tokens without onboarding")
	admin := fs.Bool("admin", false, "also serve the drill API to loopback callers: GET /sandbox/stats, POST /sandbox/stats/reset, "+
		"POST and DELETE /sandbox/faults (see docs/performance.md)")
	asJSON := fs.Bool("json", false, "print the endpoints as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *seedUser && (*org == "" || *clientID == "") {
		return usageError{"--seed-system-user needs --org, --client-id and --jwk-file"}
	}
	sb := sandbox.New(sandbox.Options{TokenLifetime: *lifetime, DrillAPI: *admin})
	if err := sb.Start(*listen); err != nil {
		return fmt.Errorf("%w; pick a free loopback port with --listen", err)
	}
	defer sb.Close()
	if *org != "" {
		sb.AddOrganization(*org, "SANDBOX ORG "+*org)
	}
	if *clientID != "" || *jwkFile != "" {
		if *clientID == "" || *jwkFile == "" || *org == "" {
			return usageError{"--client-id, --org and --jwk-file go together"}
		}
		key, err := readPublicJWK(e, *jwkFile)
		if err != nil {
			return err
		}
		err = sb.RegisterClient(sandbox.Client{ID: *clientID, Org: *org, Scopes: sandboxScopes,
			Keys: []sandbox.ClientKey{{KID: key.KeyID, Public: key.Key}}})
		if err != nil {
			return err
		}
	}
	info := map[string]string{"maskinporten_issuer": sb.MaskinportenIssuer(),
		"maskinporten_token": sb.MaskinportenTokenURL(), "altinn": sb.AltinnURL()}
	if *seedUser {
		sysID := *org + "_" + sandboxSystemName
		if err := sb.SeedSystem(sandbox.SystemSeed{ID: sysID, ClientIDs: []string{*clientID},
			Rights: []string{sandbox.ResourceExample}}); err != nil {
			return fmt.Errorf("seed the system %s: %w", sysID, err)
		}
		userID, err := sb.SeedSystemUser(sysID, *org, "")
		if err != nil {
			return fmt.Errorf("seed a system user of %s for %s: %w", *org, sysID, err)
		}
		info["system_id"], info["system_user_id"] = sysID, userID
	}
	if *admin {
		info["admin"] = sb.URL() + "/sandbox/"
	}
	if *asJSON {
		if err := printJSON(e.stdout, info); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "Sandbox Maskinporten and Altinn at %s. For your config:\n\nenvironment: sandbox\nendpoints:\n", sb.URL())
		for _, k := range []string{"maskinporten_issuer", "maskinporten_token", "altinn"} {
			fmt.Fprintf(e.stdout, "  %s: %s\n", k, info[k])
		}
		if *seedUser {
			fmt.Fprintf(e.stdout, "\nSystem %s with an accepted system user %s of organisation %s.\n",
				info["system_id"], info["system_user_id"], *org)
		}
		if *admin {
			fmt.Fprintf(e.stdout, "Drill API (loopback only) at %s: stats, stats/reset, faults.\n", info["admin"])
		}
		fmt.Fprintln(e.stdout, "\nServing until Ctrl-C.")
	}
	<-ctx.Done()
	return nil
}

// sandboxScopes are the scopes a client registered from the command line may ask for.
var sandboxScopes = []string{"altinn:demo/read", "altinn:authentication/systemregister.write",
	"altinn:authentication/systemuser.request.write", "altinn:authentication/systemuser.request.read"}

// readPublicJWK reads a public JWK from a file or stdin.
func readPublicJWK(e *env, name string) (*jose.JSONWebKey, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open the public JWK: %w", err)
		}
		defer f.Close()
		r = f
	}
	var k jose.JSONWebKey
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&k); err != nil {
		return nil, fmt.Errorf("read the public JWK %s: %w", name, err)
	}
	if !k.IsPublic() || k.KeyID == "" {
		return nil, fmt.Errorf("%s must hold a public JWK with a kid (agent keys public prints one)", name)
	}
	return &k, nil
}
