package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// maxGroup bounds how many system users or callers one interactive run adds.
const maxGroup = 20

// specList is a repeatable flag of "key=value key=value" specs.
type specList []string

func (s *specList) String() string { return strings.Join(*s, "; ") }

// Set appends one spec.
func (s *specList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// parseSpec splits "k=v k2=v2" (values without spaces; lists comma-separated) into a map, refusing
// unknown and repeated keys.
func parseSpec(spec string, known ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(spec) {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("%q is not key=value; keys: %s", f, strings.Join(known, ", "))
		case !slices.Contains(known, k):
			return nil, fmt.Errorf("unknown key %q; keys: %s", k, strings.Join(known, ", "))
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %q given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

var (
	suNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	refRE    = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

func checkSUName(prev []config.SystemUser) func(string) (string, error) {
	return func(s string) (string, error) {
		if !suNameRE.MatchString(s) {
			return "", errors.New("use lower-case letters, digits, '.', '_' and '-', e.g. default or payroll")
		}
		if slices.ContainsFunc(prev, func(su config.SystemUser) bool { return su.Name == s }) {
			return "", fmt.Errorf("a system user named %q is already configured; pick another name", s)
		}
		return s, nil
	}
}

// checkRef accepts an externalRef, or "-"/"none" for none; refs must tell the system users apart.
func checkRef(org string, prev []config.SystemUser) func(string) (string, error) {
	return func(s string) (string, error) {
		if s == "-" || s == "none" {
			s = ""
		}
		if s != "" && !refRE.MatchString(s) {
			return "", errors.New("use only letters, digits, '.', '_' and '-' (it goes into Altinn URLs)")
		}
		eff := orDefault(s, org)
		for _, su := range prev {
			if orDefault(su.ExternalRef, org) == eff {
				return "", fmt.Errorf("system user %q already uses this externalRef (none means the organisation number); each needs its own", su.Name)
			}
		}
		return s, nil
	}
}

func checkScopes(s string) (string, error) {
	list := splitList(s)
	if len(list) == 0 {
		return "", errors.New("give at least one Maskinporten scope, e.g. altinn:systembruker.demo")
	}
	for _, sc := range list {
		if !strings.Contains(sc, ":") || strings.ContainsFunc(sc, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return "", fmt.Errorf("%q is not a Maskinporten scope; scopes look like prefix:name, e.g. skatteetaten:mvameldinginnsending", sc)
		}
	}
	return strings.Join(list, ","), nil
}

// parseSystemUserSpec reads "name=NAME [ref=REF] scopes=A,B" with the prompts' validators.
func parseSystemUserSpec(spec, org string, prev []config.SystemUser) (config.SystemUser, error) {
	m, err := parseSpec(spec, "name", "ref", "scopes")
	if err != nil {
		return config.SystemUser{}, err
	}
	var su config.SystemUser
	if su.Name, err = checkSUName(prev)(orDefault(m["name"], config.DefaultSystemUserName)); err != nil {
		return su, fmt.Errorf("name: %w", err)
	}
	if su.ExternalRef, err = checkRef(org, prev)(m["ref"]); err != nil {
		return su, fmt.Errorf("ref: %w", err)
	}
	scopes, err := checkScopes(m["scopes"])
	if err != nil {
		return su, fmt.Errorf("scopes: %w", err)
	}
	su.Scopes = splitList(scopes)
	return su, nil
}

func (w *wizard) askSystemUsers(ctx context.Context, p *wizardPlan) error {
	c := p.cfg
	if len(w.f.systemUsers) > 0 {
		var sus []config.SystemUser
		for _, spec := range w.f.systemUsers {
			su, err := parseSystemUserSpec(spec, c.Organization, sus)
			if err != nil {
				return usageError{fmt.Sprintf("--system-user %q: %v", spec, err)}
			}
			sus = append(sus, su)
		}
		c.SystemUsers = sus
		return nil
	}
	configured := len(c.SystemUsers) > 0 && !slices.ContainsFunc(c.SystemUsers, func(su config.SystemUser) bool { return len(su.Scopes) == 0 })
	if w.a.mode != modeInteractive {
		if !configured {
			w.a.need("--system-user SPEC", `a system user: "name=default scopes=SCOPE[,SCOPE]" (repeat for more, each with ref=EXTERNALREF)`)
		}
		return nil
	}
	if configured {
		var names []string
		for _, su := range c.SystemUsers {
			names = append(names, fmt.Sprintf("%s (%s)", su.Name, strings.Join(su.Scopes, ",")))
		}
		keep, err := w.a.confirm(ctx, "system-user", "Keep the configured system users?", strings.Join(names, "; "), true)
		if err != nil || keep {
			return err
		}
	}
	var sus []config.SystemUser
	for i := 0; i < maxGroup; i++ {
		def := config.DefaultSystemUserName
		if i > 0 {
			def = ""
		}
		name, err := w.a.ask(ctx, question{flag: "system-user", title: fmt.Sprintf("System user %d: name", i+1),
			help: "A local label; local callers pick a system user by it.", def: def, check: checkSUName(sus)})
		if err != nil {
			return err
		}
		refDef := ""
		if i > 0 {
			refDef = name
		}
		ref, err := w.a.ask(ctx, question{flag: "system-user", title: fmt.Sprintf("System user %q: externalRef", name),
			help: "Tells several system users of one system apart in Altinn; \"-\" for none (the organisation's default system user).",
			def:  orDefault(refDef, "-"), check: checkRef(c.Organization, sus)})
		if err != nil {
			return err
		}
		scopes, err := w.a.ask(ctx, question{flag: "system-user", title: fmt.Sprintf("System user %q: scopes", name),
			help: "Maskinporten scopes its tokens may carry, comma-separated; each must be on the Maskinporten client.", check: checkScopes})
		if err != nil {
			return err
		}
		sus = append(sus, config.SystemUser{Name: name, ExternalRef: ref, Scopes: splitList(scopes)})
		more, err := w.a.confirm(ctx, "system-user", "Add another system user?", "Several system users, each with its own externalRef, can serve different software.", false)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	c.SystemUsers = sus
	return nil
}

func (w *wizard) askKey(ctx context.Context, p *wizardPlan) error {
	c := p.cfg
	k := &c.Maskinporten.Key
	backend, err := w.a.ask(ctx, question{flag: "key-backend", title: "Key store",
		help: "Where the Maskinporten private key lives: keyring (Windows, macOS, Linux desktops), systemd-creds (Linux servers), file (sandbox only).",
		def:  orDefault(keepBackend(k.Backend, c.Environment), defaultKeyBackend(c.Environment)), check: checkBackend(c.Environment)})
	if err != nil {
		return err
	}
	if backend != k.Backend {
		k.Path = ""
	}
	k.Backend = backend
	if k.Name, err = w.a.ask(ctx, question{flag: "key-name", title: "Key name",
		help: "The key's name in the key store.", def: orDefault(k.Name, config.DefaultKeyName), check: checkKeyName}); err != nil {
		return err
	}
	switch {
	case backend == config.BackendFile:
		def := k.Path
		if def == "" {
			abs, _ := filepath.Abs(w.c.config)
			def = filepath.Join(filepath.Dir(abs), "keys")
		}
		if k.Path, err = w.a.ask(ctx, question{flag: "key-path", title: "Key directory",
			help: "The directory the development key file goes in (plain text on disk: sandbox only).", def: def, check: checkAbsPath}); err != nil {
			return err
		}
	case w.a.flagSet("key-path"):
		if k.Path, err = w.a.ask(ctx, question{flag: "key-path", title: "Credential directory", check: checkAbsPath}); err != nil {
			return err
		}
	}
	if kid, ok := w.a.flags["kid"]; ok {
		if _, err := checkClientID(kid); err != nil {
			return usageError{"--kid: " + err.Error()}
		}
		c.Maskinporten.KID = kid
	}
	def := keyGenerate
	if w.a.flagSet("key-file") {
		def = keyImport
	}
	if p.keySource, err = w.a.ask(ctx, question{flag: "key", title: "Generate or import the key?",
		help: "generate: a new RSA-2048 key made in the key store (a key already there is kept); import: an existing key file (PEM, JWK or PKCS#12).",
		def:  def, check: checkKeySource}); err != nil || p.keySource != keyImport {
		return err
	}
	p.keyFile, err = w.a.ask(ctx, question{flag: "key-file", title: "Key file",
		help: "The private key file to import. Delete it once the key is in the key store.", check: checkKeyFile})
	return err
}

// keepBackend drops a configured backend the environment no longer allows, so the default applies.
func keepBackend(b string, env config.Environment) string {
	if (b == config.BackendFile || b == config.BackendMemory) && env != config.EnvSandbox {
		return ""
	}
	return b
}

func checkBackend(env config.Environment) func(string) (string, error) {
	return func(s string) (string, error) {
		switch s {
		case config.BackendKeyring:
		case config.BackendSystemdCreds:
			if !onLinux() {
				return "", errors.New("systemd-creds needs Linux with systemd; use keyring")
			}
		case config.BackendFile:
			if env != config.EnvSandbox {
				return "", errors.New("file keeps the key in plain text on disk, so it is allowed only with environment sandbox; use keyring or systemd-creds")
			}
		default:
			return "", errors.New("use keyring, systemd-creds or file (sandbox only)")
		}
		return s, nil
	}
}

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func checkKeyName(s string) (string, error) {
	if !keyNameRE.MatchString(s) {
		return "", errors.New("use letters, digits, '.', '_' and '-', starting with a letter or digit")
	}
	return s, nil
}

func checkKeySource(s string) (string, error) {
	s = strings.ToLower(s)
	if s != keyGenerate && s != keyImport {
		return "", errors.New("answer generate or import")
	}
	return s, nil
}

func checkAbsPath(s string) (string, error) {
	return filepath.Abs(s)
}

func checkKeyFile(s string) (string, error) {
	if s == "-" {
		return s, nil
	}
	fi, err := os.Stat(s)
	if err != nil {
		return "", fmt.Errorf("cannot read it: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	return filepath.Abs(s)
}

// currentUser is the name of the account running the wizard, or "".
func currentUser() string {
	u, err := user.Current()
	if err != nil {
		return ""
	}
	return u.Username
}
