package doctor

import (
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"time"

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
	desc := keystore.Describe(ks)
	detail := map[string]string{"backend": k.Backend, "name": k.Name, "kid": kid, "exportable": fmt.Sprint(desc.Exportable), "where": desc.Where}
	if pub, ok := signer.Public().(*rsa.PublicKey); ok {
		detail["bits"] = fmt.Sprint(pub.N.BitLen())
	}
	r.add(Finding{Check: CheckKey, Severity: SevOK, Message: fmt.Sprintf("the key %q is readable from %s (kid %s); it signs in the %s backend (%s) and %s",
		k.Name, where, kid, desc.Backend, desc.Where, exportability(desc)), Detail: detail})
	r.checkCertificate(signer)
	if st, err := config.LoadState(r.o.StateDir); err == nil && r.cfg.Maskinporten.GrantHeader != config.GrantHeaderX5C {
		r.checkKeyExpiry(st, kid)
	}
	r.serviceKeyAccess(k)
}

// exportability says whether a copy of the key can be taken.
func exportability(d keystore.Description) string {
	if d.Exportable {
		return "is exportable (whoever runs code as the service's account or root can copy it)"
	}
	return "is not exportable (its private part never leaves the device)"
}

// certWarnBefore is how long before its certificate expires doctor starts warning.
const certWarnBefore = 30 * 24 * time.Hour

// checkCertificate checks the enterprise certificate that grants carry with grant_header x5c: it is
// there, and it is not expired or about to.
func (r *run) checkCertificate(signer crypto.Signer) {
	r.checkChain(signer, certCheck{check: CheckKey, x5c: r.cfg.Maskinporten.GrantHeader == config.GrantHeaderX5C,
		noChainFix: "import the enterprise certificate with its key from the PKCS#12 file (`agent keys import`), which keeps the chain, or use grant_header: kid with a registered key",
		renewed:    "import it with its key (`agent keys import`)", restart: ", then restart the service"})
}

// certCheck says whose certificate checkChain checks and what to tell.
type certCheck struct {
	check      string // the finding's check
	whose      string // "" or "admin client's ", between "the " and "enterprise certificate"
	x5c        bool   // grants carry the certificate
	noChainFix string // the fix when x5c and there is no chain
	renewed    string // what to do with a renewed certificate
	restart    string // what to do after that once the old one expired
}

// checkChain reports the certificate chain stored with signer: missing (an error when grants carry it),
// expired, expiring within certWarnBefore, or valid.
func (r *run) checkChain(signer crypto.Signer, c certCheck) {
	chain := keystore.Chain(signer)
	if len(chain) == 0 {
		if c.x5c {
			r.add(Finding{Check: c.check, Severity: SevError, Message: "grant_header is x5c, but the " + c.whose + "key has no certificate chain stored with it",
				Fix: c.noChainFix})
		}
		return
	}
	leaf := chain[0]
	left := leaf.NotAfter.Sub(r.now())
	detail := map[string]string{"subject": leaf.Subject.String(), "issuer": leaf.Issuer.String(),
		"not_after": leaf.NotAfter.UTC().Format(time.RFC3339), "chain": fmt.Sprint(len(chain))}
	use := "grants carry it (x5c)"
	if !c.x5c {
		use = "grants use the kid (grant_header: kid), not the certificate"
	}
	what := "the " + c.whose + "enterprise certificate"
	sev := SevError
	switch {
	case left <= 0:
		r.add(Finding{Check: c.check, Severity: sev, Message: fmt.Sprintf("%s %q expired on %s; %s", what, leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly), use),
			Fix: "order a renewed enterprise certificate and " + c.renewed + c.restart, Detail: detail})
		return
	case left < certWarnBefore:
		sev = SevWarning
		if !c.x5c {
			sev = SevInfo
		}
		r.add(Finding{Check: c.check, Severity: sev, Message: fmt.Sprintf("%s %q expires in %d days (%s); %s", what, leaf.Subject.CommonName, int(left.Hours()/24), leaf.NotAfter.UTC().Format(time.DateOnly), use),
			Fix: "order a renewed enterprise certificate now and " + c.renewed + " before it expires", Detail: detail})
		return
	}
	r.add(Finding{Check: c.check, Severity: SevOK, Message: fmt.Sprintf("%s %q is valid until %s; %s", what, leaf.Subject.CommonName, leaf.NotAfter.UTC().Format(time.DateOnly), use), Detail: detail})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// keyStoreFinding explains a key store that cannot be opened or read.
func keyStoreFinding(where string, k config.KeyRef, err error) Finding {
	f := Finding{Check: CheckKey, Severity: SevError, Message: fmt.Sprintf("%s cannot be used: %v", where, err)}
	switch {
	case errors.Is(err, keystore.ErrLocked):
		f.Message = fmt.Sprintf("%s is locked: %v", where, err)
		f.Fix = "unlock it (log in to the desktop session, or gnome-keyring-daemon --unlock) and run doctor again"
	case errors.Is(err, keystore.ErrUnavailable) && k.Backend == config.BackendTPM2:
		f.Message = fmt.Sprintf("%s is not available on this machine: %v", where, err)
		f.Fix = "enable the TPM 2.0 in the firmware and load its driver so " + orDefault(k.Device, keystore.DefaultTPMDevice) + " exists and root (or group tss) may open it; without a TPM use key backend systemd-creds"
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
	case config.BackendTPM2:
		if _, err := os.Stat(keystore.TPM2KeyPath(k.Path, k.Name)); err != nil {
			r.add(Finding{Check: CheckKey, Severity: SevError, Message: "the TPM key file " + keystore.TPM2KeyPath(k.Path, k.Name) + " the service loads is missing: " + err.Error(),
				Fix: "generate the key again with `agent keys generate --backend tpm2`, as root, and register its public key"})
			return
		}
		r.add(Finding{Check: CheckKey, Severity: SevInfo, Message: "the key is inside the TPM; the service loads its key file " + keystore.TPM2KeyPath(k.Path, k.Name) +
			" (LoadCredential) and signs through " + orDefault(k.Device, keystore.DefaultTPMDevice) + " (DeviceAllow); only the running service's /readyz proves " + acct + " reaches the device"})
	case config.BackendFile, config.BackendMemory:
		r.add(Finding{Check: CheckKey, Severity: SevWarning, Message: "backend " + k.Backend + " keeps the key outside the OS key store (development and sandbox only)",
			Fix: "for real use, switch to keyring or systemd-creds and store the key there"})
	}
}
