package main

import (
	"cmp"
	"context"
	"fmt"
	"os/user"
	"path/filepath"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/setup"
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

func (w *wizard) askSystemUsers(ctx context.Context, p *wizardPlan) error {
	c := p.cfg
	if len(w.f.systemUsers) > 0 {
		var sus []config.SystemUser
		for _, spec := range w.f.systemUsers {
			su, err := setup.ParseSystemUserSpec(spec, c.Organization, sus)
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
			help: "A local label; local callers pick a system user by it.", def: def, check: setup.CheckSystemUserName(sus)})
		if err != nil {
			return err
		}
		refDef := ""
		if i > 0 {
			refDef = name
		}
		ref, err := w.a.ask(ctx, question{flag: "system-user", title: fmt.Sprintf("System user %q: externalRef", name),
			help: "Tells several system users of one system apart in Altinn; \"-\" for none (the organisation's default system user).",
			def:  cmp.Or(refDef, "-"), check: setup.CheckRef(c.Organization, sus)})
		if err != nil {
			return err
		}
		old, _ := c.SystemUser(name)
		scopes, err := w.a.ask(ctx, question{flag: "system-user", title: fmt.Sprintf("System user %q: scopes", name),
			help: "Maskinporten scopes its tokens may carry, comma-separated; each must be on the Maskinporten client.",
			def:  cmp.Or(strings.Join(old.Scopes, ","), w.sandbox.Scopes()), check: setup.CheckScopes})
		if err != nil {
			return err
		}
		sus = append(sus, config.SystemUser{Name: name, ExternalRef: ref, Scopes: setup.SplitList(scopes)})
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
		help: "Where the Maskinporten private key lives: keyring (Windows, macOS, Linux desktops), systemd-creds (Linux servers), tpm2 (Linux with a TPM 2.0: the key is made inside it and can never be copied), file (sandbox only).",
		def:  cmp.Or(setup.KeepBackend(k.Backend, c.Environment), setup.DefaultKeyBackend(c.Environment)), check: setup.CheckBackend(c.Environment)})
	if err != nil {
		return err
	}
	if backend != k.Backend {
		k.Path = ""
	}
	k.Backend = backend
	if k.Name, err = w.a.ask(ctx, question{flag: "key-name", title: "Key name",
		help: "The key's name in the key store.", def: cmp.Or(k.Name, config.DefaultKeyName), check: setup.CheckKeyName}); err != nil {
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
			help: "The directory the development key file goes in (plain text on disk: sandbox only).", def: def, check: setup.CheckAbsPath}); err != nil {
			return err
		}
	case w.a.flagSet("key-path"):
		if k.Path, err = w.a.ask(ctx, question{flag: "key-path", title: "Credential directory", check: setup.CheckAbsPath}); err != nil {
			return err
		}
	}
	if kid, ok := w.a.flags["kid"]; ok {
		if _, err := setup.CheckClientID(kid); err != nil {
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
		def:  def, check: setup.CheckKeySource}); err != nil || p.keySource != keyImport {
		return err
	}
	p.keyFile, err = w.a.ask(ctx, question{flag: "key-file", title: "Key file",
		help: "The private key file to import. Delete it once the key is in the key store.", check: setup.CheckKeyFile})
	return err
}

// currentUser is the name of the account running the wizard, or "".
func currentUser() string {
	u, err := user.Current()
	if err != nil {
		return ""
	}
	return u.Username
}
