package main

import (
	"context"
	"fmt"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// defaultSandboxListen is where `agent sandbox` serves without --listen, and the wizard's default
// sandbox URL.
const defaultSandboxListen = "127.0.0.1:8900"

func cmdSandbox(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sandbox", nil)
	listen := fs.String("listen", defaultSandboxListen, "address to serve the fake Maskinporten and Altinn on (loopback)")
	org := fs.String("org", "", "organisation number to register a Maskinporten client for")
	clientID := fs.String("client-id", "", "Maskinporten client id to register")
	jwkFile := fs.String("jwk-file", "", "public JWK of the client (from \"agent keys public\"), or - for stdin")
	lifetime := fs.Duration("token-lifetime", 120*time.Second, "lifetime of issued Maskinporten tokens")
	seedUser := fs.Bool("seed-system-user", false, "with --org and --client-id: register the system <org>_"+sandbox.SeededSystemName+
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
	var onRegister func(sandbox.ClientRegistration) // with --json the first object says it all
	if !*asJSON {
		onRegister = func(r sandbox.ClientRegistration) { fmt.Fprintln(e.stdout, r) }
	}
	sb := sandbox.New(sandbox.Options{TokenLifetime: *lifetime, DrillAPI: *admin, OnRegister: onRegister})
	if err := sb.Start(*listen); err != nil {
		return fmt.Errorf("%w; pick a free loopback port with --listen", err)
	}
	defer sb.Close()
	info := sb.Info()
	if *org != "" {
		sb.AddOrganization(*org, "SANDBOX ORG "+*org)
	}
	if *clientID != "" || *jwkFile != "" {
		if *clientID == "" || *jwkFile == "" || *org == "" {
			return usageError{"--client-id, --org and --jwk-file go together"}
		}
		if err := sb.RegisterClientJWK(*clientID, *org, *jwkFile, e.stdin, sandbox.APIScopes...); err != nil {
			return fmt.Errorf("%s: %w", *jwkFile, err)
		}
		info["client_id"], info["org"] = *clientID, *org
	}
	if *seedUser {
		sysID, userID, err := sb.SeedOnboarded(*org, *clientID)
		if err != nil {
			return err
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
		fmt.Fprintf(e.stdout, "%s\n\n", sb.ConfigBlock())
		if *seedUser {
			fmt.Fprintf(e.stdout, "System %s with an accepted system user %s of organisation %s.\n",
				info["system_id"], info["system_user_id"], *org)
		}
		if *admin {
			fmt.Fprintf(e.stdout, "Drill API (loopback only) at %s: stats, stats/reset, faults.\n", info["admin"])
		}
		fmt.Fprintf(e.stdout, "%s\n\nServing until Ctrl-C.\n", sb.Guide())
	}
	<-ctx.Done()
	return nil
}
