package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// clientsFlags are the flags of `agent clients`.
type clientsFlags struct {
	osUser, systemUsers, scopes, kind, secretFile string
	printSecret                                   bool
}

// cmdClients is `agent clients add|list|remove|rotate`: the local callers of the token endpoint. A
// caller's secret is 256 random bits written once to a file only its OS account can read (or printed
// once with --print-secret); the config keeps only its SHA-256.
func cmdClients(ctx context.Context, e *env, args []string) error {
	verb, rest, err := subcommand(args, "add", "list", "remove", "rotate")
	if err != nil {
		return err
	}
	var c common
	var f clientsFlags
	fs := newFlags(e, "clients "+verb, &c)
	switch verb {
	case "add":
		fs.StringVar(&f.osUser, "os-user", "", "the OS account the caller runs as: the only one that can read its secret file (required)")
		fs.StringVar(&f.systemUsers, "system-users", "", "system users it may use, comma-separated; the first is its default (default: the first configured)")
		fs.StringVar(&f.scopes, "scopes", "", "scopes it may ask for, comma-separated (default: all of its system users' scopes)")
		fs.StringVar(&f.kind, "kind", config.TokenKindMaskinporten, "token kind: maskinporten or altinn")
		fs.StringVar(&f.secretFile, "secret-file", "", "where the secret is written (default: beside the config directory, <dir>-clients/ID.secret); - for no file (with --print-secret)")
		fs.BoolVar(&f.printSecret, "print-secret", false, "also print the secret, once (it is never shown again)")
	case "rotate":
		fs.BoolVar(&f.printSecret, "print-secret", false, "also print the new secret, once")
	}
	id, err := parseWithID(fs, rest, verb != "list")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(&c)
	if err != nil {
		return err
	}
	switch verb {
	case "add":
		return clientsAdd(e, &c, cfg, id, &f)
	case "rotate":
		return clientsRotate(e, &c, cfg, id, f.printSecret)
	case "remove":
		return clientsRemove(e, &c, cfg, id)
	}
	return clientsList(e, &c, cfg)
}

// parseWithID parses flags on either side of one positional ID (agent clients add ID --os-user U).
func parseWithID(fs *flag.FlagSet, args []string, wantID bool) (string, error) {
	if !wantID {
		return "", parse(fs, args, false)
	}
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := parse(fs, args, true); err != nil {
		return "", err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
		if err := parse(fs, fs.Args()[1:], false); err != nil {
			return "", err
		}
	} else if fs.NArg() > 0 {
		return "", usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if id == "" {
		return "", usageError{"missing the caller ID"}
	}
	return id, nil
}

func clientsAdd(e *env, c *common, cfg *config.Config, id string, f *clientsFlags) error {
	if _, err := setup.CheckCallerID(cfg.Clients)(id); err != nil {
		return usageError{err.Error()}
	}
	noFile := f.secretFile == "-"
	if noFile && !f.printSecret {
		return usageError{"--secret-file - writes no file, so it needs --print-secret (otherwise nobody would ever know the secret)"}
	}
	if f.osUser == "" && !noFile {
		return usageError{"--os-user is required: the OS account that may read the caller's secret file"}
	}
	cl, err := setup.NewCaller(c.config, cfg, id, setup.CallerAnswers{OSUser: f.osUser, SystemUsers: f.systemUsers,
		Scopes: f.scopes, Kind: f.kind, SecretFile: f.secretFile})
	if err != nil {
		return usageError{err.Error()}
	}
	s, err := setup.AddCaller(c.config, cfg, cl)
	if err != nil {
		return err
	}
	cl.SecretSHA256 = s.Digest()
	return reportSecret(e, c, "added", cl, s, f.printSecret, cfg.Listen)
}

func clientsRotate(e *env, c *common, cfg *config.Config, id string, printSecret bool) error {
	if cl, ok := cfg.Client(id); ok && cl.SecretFile == "" && !printSecret {
		return usageError{fmt.Sprintf("caller %s has no secret file (its secret was printed once), so the new one must be printed too: add --print-secret", id)}
	}
	cl, s, err := setup.RotateCaller(c.config, cfg, id)
	if err != nil {
		return err
	}
	return reportSecret(e, c, "rotated", cl, s, printSecret, cfg.Listen)
}

func clientsRemove(e *env, c *common, cfg *config.Config, id string) error {
	removed, err := setup.RemoveCaller(c.config, cfg, id)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, map[string]any{"action": "removed", "id": id, "secret_file_deleted": removed})
	}
	fmt.Fprintf(e.stdout, "Removed caller %s.", id)
	if removed != "" {
		fmt.Fprintf(e.stdout, " Deleted its secret file %s.", removed)
	}
	fmt.Fprintln(e.stdout, " Restart the service so it stops accepting the caller: agent service restart")
	return nil
}

func clientsList(e *env, c *common, cfg *config.Config) error {
	views := setup.CallerViews(cfg)
	if c.json {
		return printJSON(e.stdout, views)
	}
	if len(views) == 0 {
		fmt.Fprintln(e.stdout, "No local callers. Add one with: agent clients add ID --os-user USER")
		return nil
	}
	for _, v := range views {
		fmt.Fprintf(e.stdout, "%s  (os user %s, %s tokens)\n  system users: %s\n  scopes:       %s\n  secret file:  %s: %s\n",
			v.ID, cmp.Or(v.OSUser, "-"), v.TokenKind, strings.Join(v.SystemUsers, ", "), strings.Join(v.Scopes, ", "), cmp.Or(v.SecretFile, "-"), v.FileStatus)
	}
	return nil
}

// reportSecret says what was done and which URL the caller uses (the literal listen address: a caller
// told "localhost" may resolve the other loopback family); the secret itself appears only with
// --print-secret.
func reportSecret(e *env, c *common, action string, cl config.Client, s *callersecret.Secret, printSecret bool, listen string) error {
	tokenURL := "http://" + listen + "/oauth2/token"
	if c.json {
		out := map[string]any{"action": action, "id": cl.ID, "os_user": cl.OSUser, "secret_file": cl.SecretFile,
			"secret_sha256": cl.SecretSHA256, "token_url": tokenURL}
		if printSecret {
			out["secret"] = string(s.Reveal())
		}
		return printJSON(e.stdout, out)
	}
	if cl.SecretFile != "" {
		fmt.Fprintf(e.stdout, "Caller %s %s: its secret is in %s, readable only by %s.\n", cl.ID, action, cl.SecretFile, cl.OSUser)
	} else {
		fmt.Fprintf(e.stdout, "Caller %s %s.\n", cl.ID, action)
	}
	if printSecret {
		fmt.Fprintf(e.stdout, "Secret (shown this once; store it where only the caller can read it):\n%s\n", s.Reveal())
	}
	fmt.Fprintf(e.stdout, "Token URL for the caller: %s (the literal address, never localhost).\n", tokenURL)
	fmt.Fprintln(e.stdout, "Restart the service so it loads the change: agent service restart")
	return nil
}
