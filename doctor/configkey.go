package doctor

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

func (r *run) goos() string {
	if r.o.GOOS != "" {
		return r.o.GOOS
	}
	return runtime.GOOS
}

// asAdminFix says how to run doctor where it can read the root-only config and the key.
var asAdminFix = func() string {
	if runtime.GOOS == "windows" {
		return "run `agent doctor` from an elevated prompt (Run as administrator)"
	}
	return "run `agent doctor` as root (sudo)"
}()

// checkConfig loads the config as the service does. A config with invalid values is still used for
// the checks that follow, so one run shows every problem.
func (r *run) checkConfig() {
	path := r.o.ConfigPath
	cfg, err := config.Load(path)
	switch {
	case err == nil:
		r.cfg = cfg
		r.add(Finding{Check: CheckConfig, Severity: SevOK, Message: "the config " + path + " loads and is valid",
			Detail: map[string]string{"path": path, "environment": string(cfg.Environment)}})
	case errors.Is(err, fs.ErrNotExist):
		r.add(Finding{Check: CheckConfig, Severity: SevError, Message: "there is no config file at " + path,
			Fix: "run `agent setup` to create it, or point --config at it"})
	case errors.Is(err, fs.ErrPermission):
		r.add(Finding{Check: CheckConfig, Severity: SevError, Message: "the config " + path +
			" is there, but this account may not read it (only its owner may: it names who may get tokens)",
			Fix: asAdminFix})
	case cfg != nil:
		r.cfg = cfg
		r.add(Finding{Check: CheckConfig, Severity: SevError, Message: "the config " + path + " has invalid values:\n" + err.Error(),
			Fix: "fix each field named above (config.example.yaml documents them), or re-run `agent setup`"})
	default:
		r.add(Finding{Check: CheckConfig, Severity: SevError, Message: "the config " + path + " cannot be read:\n" + err.Error(),
			Fix: "fix the YAML at the lines named above, or move the file away and run `agent setup`"})
	}
}

// checkKey opens the key store and reads the key, then says what is known about the service's access.
func (r *run) checkKey(ctx context.Context) {
	if r.o.OpenKeyStore == nil {
		return
	}
	k := r.cfg.Maskinporten.Key
	where := fmt.Sprintf("the %s key store", k.Backend)
	ks, err := r.o.OpenKeyStore(r.cfg)
	if err != nil {
		r.add(keyStoreFinding(where, k, err))
		return
	}
	r.ks = ks
	signer, err := ks.Signer(ctx, k.Name)
	switch {
	case errors.Is(err, keystore.ErrNotFound):
		r.add(Finding{Check: CheckKey, Severity: SevError, Message: fmt.Sprintf("there is no key %q in %s", k.Name, where),
			Fix: "generate it with `agent keys generate` and register the printed public key on the Maskinporten client, " +
				"or import the registered one with `agent keys import` (or run `agent setup`)"})
		return
	case err != nil:
		r.add(keyStoreFinding(where, k, err))
		return
	}
	r.keyOK = true
	kid := r.cfg.Maskinporten.KID
	if kid == "" {
		kid, _ = keystore.Thumbprint(signer.Public())
	}
	detail := map[string]string{"backend": k.Backend, "name": k.Name, "kid": kid}
	if pub, ok := signer.Public().(*rsa.PublicKey); ok {
		detail["bits"] = fmt.Sprint(pub.N.BitLen())
	}
	r.add(Finding{Check: CheckKey, Severity: SevOK, Message: fmt.Sprintf("the key %q is readable from %s (kid %s)", k.Name, where, kid), Detail: detail})
	r.serviceKeyAccess(k)
}

// keyStoreFinding explains a key store that cannot be opened or read.
func keyStoreFinding(where string, k config.KeyRef, err error) Finding {
	f := Finding{Check: CheckKey, Severity: SevError, Message: fmt.Sprintf("%s cannot be used: %v", where, err)}
	switch {
	case errors.Is(err, keystore.ErrLocked):
		f.Message = fmt.Sprintf("%s is locked: %v", where, err)
		f.Fix = "unlock it (log in to the desktop session, or gnome-keyring-daemon --unlock) and run doctor again"
	case errors.Is(err, keystore.ErrUnavailable):
		f.Message = fmt.Sprintf("%s is not available on this machine: %v", where, err)
		f.Fix = "on a Linux server use key backend systemd-creds; on a desktop start the keyring; then store the key again (`agent keys generate` or `agent keys import`)"
	case k.Backend == config.BackendKeyring:
		f.Fix = "start the desktop keyring (a Secret Service such as GNOME Keyring) in this session, or on a server use key backend systemd-creds and store the key there"
	case k.Backend == config.BackendFile:
		f.Fix = "make the key directory owner-only (chmod 700) and the key file 0600, or re-create it with `agent keys generate`"
	default:
		f.Fix = "follow the advice in the message, then run doctor again"
	}
	return f
}

// serviceKeyAccess says what doctor can and cannot know about the service account reading the key.
func (r *run) serviceKeyAccess(k config.KeyRef) {
	acct := r.o.ServiceAccount
	if acct == "" {
		acct = "the service's account"
	}
	switch k.Backend {
	case config.BackendSystemdCreds:
		path := keystore.SystemdCredPath(k.Path, k.Name)
		if _, err := os.Stat(path); err != nil {
			r.add(Finding{Check: CheckKey, Severity: SevError, Message: "the encrypted credential " + path + " the service loads is missing: " + err.Error(),
				Fix: "store the key again with `agent keys generate` or `agent keys import` (backend systemd-creds), as root"})
			return
		}
		r.add(Finding{Check: CheckKey, Severity: SevInfo, Message: "the service gets the key from " + path + " (LoadCredentialEncrypted); " +
			"doctor cannot decrypt it as " + acct + ", so only the running service's /readyz (see the port check) proves it",
			Detail: map[string]string{"credential": path}})
	case config.BackendKeyring:
		if r.goos() == "linux" {
			r.add(Finding{Check: CheckKey, Severity: SevWarning, Message: "the key is in this login session's Secret Service, which a system service (" + acct + ") cannot reach",
				Fix: "on a server, use key backend systemd-creds; keep keyring for desktops where the agent runs in your session"})
			return
		}
		r.add(Finding{Check: CheckKey, Severity: SevInfo, Message: "the key is in " + acct + "'s own key store; doctor read it through the same path the CLI uses, " +
			"and only the running service's /readyz proves the service reads it"})
	case config.BackendFile, config.BackendMemory:
		r.add(Finding{Check: CheckKey, Severity: SevWarning, Message: "backend " + k.Backend + " keeps the key outside the OS key store (development and sandbox only)",
			Fix: "for real use, switch to keyring or systemd-creds and store the key there"})
	}
}
