package main

import (
	"context"
	"fmt"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

func cmdSandbox(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sandbox", nil)
	listen := fs.String("listen", sandbox.DefaultListen, "address to serve the fake Maskinporten and Altinn on (loopback)")
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
	if (*clientID != "" || *jwkFile != "") && (*clientID == "" || *jwkFile == "" || *org == "") {
		return usageError{"--client-id, --org and --jwk-file go together"}
	}
	info, err := sb.Prepare(sandbox.Preparation{Org: *org, ClientID: *clientID, JWKFile: *jwkFile, Stdin: e.stdin, SeedSystemUser: *seedUser})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(e.stdout, info); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s\n\nServing until Ctrl-C.\n", sb.Banner(info))
	}
	<-ctx.Done()
	return nil
}
