package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// setupFlags are the flags of `agent setup` that are not plain question answers.
type setupFlags struct {
	nonInteractive  bool
	noWait          bool
	newRequest      bool
	noService       bool
	serviceUser     string
	keyPasswordFile string
	kid             string
	pollInterval    time.Duration
	maxPollInterval time.Duration
	systemUsers     specList
	callers         specList
}

// questionFlags are the flags that answer one question each (the question's check validates them).
var questionFlags = []struct{ name, usage string }{
	{"org", "organisation number (9 digits, mod-11 check digit)"},
	{"client-id", "the organisation's Maskinporten client id"},
	{"environment", "test, production or sandbox"},
	{"sandbox-url", "base URL of a running `agent sandbox` (with --environment sandbox)"},
	{"maskinporten-issuer", "override: Maskinporten issuer URL (the grant's aud)"},
	{"maskinporten-token-url", "override: Maskinporten token endpoint"},
	{"altinn-url", "override: Altinn platform base URL"},
	{"system-id", "system id, \"<org>_<name>\" (a bare name gets the prefix)"},
	{"system-name", "system name in Norwegian Bokmål (also the default for nn and en)"},
	{"system-name-nn", "system name in Nynorsk"},
	{"system-name-en", "system name in English"},
	{"system-description", "system description (all languages)"},
	{"rights", "resource ids the system may get, comma-separated (RESOURCE or RESOURCE:ACTION)"},
	{"access-packages", "access packages, comma-separated (names or urn:altinn:accesspackage:NAME)"},
	{"key-backend", "key store: keyring, systemd-creds, tpm2 (Linux with a TPM 2.0), or file (sandbox only)"},
	{"key-name", "the key's name in the key store"},
	{"key-path", "file backend: key directory; systemd-creds: credential directory"},
	{"key", "generate (a new key, unless one is there) or import (from --key-file)"},
	{"key-file", "import: the private key file (PEM, JWK or PKCS#12); - reads stdin (with --non-interactive)"},
	{"listen", "local endpoint address: 127.0.0.1:PORT, [::1]:PORT, or just PORT"},
}

// cmdSetup is `agent setup`: the wizard from nothing to a running service. It gathers every answer
// first (flags, then the config file, then the terminal), writes the config only when it is complete and
// valid, then runs the steps: key → system → requests → approval → first token → local caller
// credentials → service. Every step can be re-run; a setup stopped anywhere resumes where it stopped.
func cmdSetup(ctx context.Context, e *env, args []string) error {
	var c common
	var f setupFlags
	fs := newFlags(e, "setup", &c)
	for _, q := range questionFlags {
		fs.String(q.name, "", q.usage)
	}
	fs.BoolVar(&f.nonInteractive, "non-interactive", false, "ask nothing: answers come from flags, then the config file, then defaults")
	fs.Var(&f.systemUsers, "system-user", "a system user, repeatable: \"name=NAME [ref=EXTERNALREF] scopes=S1,S2\"")
	fs.Var(&f.callers, "caller", "a local caller, repeatable: \"id=ID os-user=USER [system-users=A,B] [scopes=S1,S2] [kind=maskinporten|altinn] [secret-file=PATH]\"")
	fs.StringVar(&f.keyPasswordFile, "key-password-file", "", "import: file holding the key's password (never give a password as a flag value)")
	fs.StringVar(&f.kid, "kid", "", "key id registered on the Maskinporten client (default: the key's RFC 7638 thumbprint)")
	fs.BoolVar(&f.noWait, "no-wait", false, "exit with code 3 once the requests are sent, instead of waiting for approval")
	fs.BoolVar(&f.newRequest, "new-request", false, "replace a rejected or timed-out request with a new one")
	fs.BoolVar(&f.noService, "no-service", false, "do not install and start the OS service")
	fs.StringVar(&f.serviceUser, "service-user", "", "account the service runs as (default: a systemd DynamicUser / NT SERVICE\\systemuser-agent)")
	fs.DurationVar(&f.pollInterval, "poll-interval", 2*time.Second, "first wait between approval polls")
	fs.DurationVar(&f.maxPollInterval, "max-poll-interval", 15*time.Second, "longest wait between approval polls")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	given := map[string]string{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = fl.Value.String() })
	if err := setupConflicts(given, &f); err != nil {
		return err
	}
	w, err := newWizard(e, &c, &f, given)
	if err != nil {
		return err
	}
	defer w.close()
	p, err := w.gather(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped before the configuration was complete; nothing was written: %w", ctx.Err())
		}
		return err
	}
	return w.act(ctx, p)
}

// setupConflicts rejects flag combinations that cannot work, before anything is asked or done.
func setupConflicts(given map[string]string, f *setupFlags) error {
	conflict := func(a, b string) error {
		return usageError{fmt.Sprintf("--%s and --%s cannot be used together", a, b)}
	}
	_, sandboxURL := given["sandbox-url"]
	for _, ep := range []string{"maskinporten-issuer", "maskinporten-token-url", "altinn-url"} {
		if _, ok := given[ep]; ok && sandboxURL {
			return conflict("sandbox-url", ep)
		}
	}
	if env, ok := given["environment"]; ok && sandboxURL && strings.ToLower(strings.TrimSpace(env)) != string(config.EnvSandbox) {
		return usageError{"--sandbox-url needs --environment sandbox"}
	}
	if k, ok := given["key"]; ok && strings.TrimSpace(k) == keyGenerate {
		if _, ok := given["key-file"]; ok {
			return conflict("key generate", "key-file")
		}
	}
	if _, ok := given["key-password-file"]; ok {
		if _, ok := given["key-file"]; !ok {
			return usageError{"--key-password-file needs --key-file"}
		}
	}
	if kf, ok := given["key-file"]; ok && kf == "-" && !f.nonInteractive {
		return usageError{"--key-file - (stdin) needs --non-interactive: on a terminal, stdin answers the questions"}
	}
	if f.pollInterval <= 0 || f.maxPollInterval <= 0 {
		return usageError{"--poll-interval and --max-poll-interval must be positive"}
	}
	return nil
}

// newWizard reads the existing config file (its values become the defaults) and picks the mode.
func newWizard(e *env, c *common, f *setupFlags, given map[string]string) (*wizard, error) {
	base, err := setup.LoadBase(c.config)
	if err != nil {
		return nil, err
	}
	mode := modeNoTTY
	fd := terminalFd(e.stdin)
	switch {
	case f.nonInteractive:
		mode = modeFlags
	case fd >= 0:
		mode = modeInteractive
	}
	w := &wizard{e: e, c: c, f: f, base: base}
	w.a = &asker{mode: mode, out: e.stderr, flags: given}
	if mode == modeInteractive {
		w.a.in = newLineReader(e.stdin, fd)
	}
	return w, nil
}
