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

func cmdSandbox(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sandbox", nil)
	listen := fs.String("listen", "127.0.0.1:8900", "address to serve the fake Maskinporten and Altinn on (loopback)")
	org := fs.String("org", "", "organisation number to register a Maskinporten client for")
	clientID := fs.String("client-id", "", "Maskinporten client id to register")
	jwkFile := fs.String("jwk-file", "", "public JWK of the client (from \"agent keys public\"), or - for stdin")
	lifetime := fs.Duration("token-lifetime", 120*time.Second, "lifetime of issued Maskinporten tokens")
	asJSON := fs.Bool("json", false, "print the endpoints as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	sb := sandbox.New(sandbox.Options{TokenLifetime: *lifetime})
	if err := sb.Start(*listen); err != nil {
		return err
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
	if *asJSON {
		if err := printJSON(e.stdout, info); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "Sandbox Maskinporten and Altinn at %s. For your config:\n\nenvironment: sandbox\nendpoints:\n", sb.URL())
		for _, k := range []string{"maskinporten_issuer", "maskinporten_token", "altinn"} {
			fmt.Fprintf(e.stdout, "  %s: %s\n", k, info[k])
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
