package installer

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"runtime"
	"strings"
)

// DefaultName is the service's name in systemd and the Windows SCM.
const DefaultName = "systemuser-agent"

// Linux defaults.
const (
	// DefaultUnitDir is where the unit file goes.
	DefaultUnitDir = "/etc/systemd/system"
	// VendorUnitDir is where a distribution package (the .deb and .rpm) puts its unit; a unit in
	// DefaultUnitDir overrides it.
	VendorUnitDir = "/usr/lib/systemd/system"
	// DefaultStateDir is the service's state directory (StateDirectory=systemuser-agent).
	DefaultStateDir = "/var/lib/systemuser-agent"
	// ConfigCredential is the credential name under which systemd hands the config file to the
	// service: ExecStart reads %d/config.yaml, so the file itself stays root-owned and 0600.
	ConfigCredential = "config.yaml"
)

// Runner is what the service runs: it serves until ctx is cancelled (the service manager said stop),
// then returns nil after a graceful shutdown, or returns an error as soon as it cannot go on.
type Runner func(ctx context.Context) error

// Credential is an encrypted systemd credential the unit passes to the service with
// LoadCredentialEncrypted=Name:Path; systemd decrypts it into $CREDENTIALS_DIRECTORY/Name. The key
// store names both (keystore.SystemdCredName, keystore.SystemdCredPath); installer does not import it.
type Credential struct {
	// Name is the credential's name, e.g. "maskinporten".
	Name string `json:"name"`
	// Path is the encrypted file, e.g. /etc/credstore.encrypted/maskinporten.cred.
	Path string `json:"path"`
	// Plain loads the file with LoadCredential= instead: a TPM key file (backend tpm2), which is the
	// key wrapped by this machine's TPM and useless anywhere else, so there is nothing to decrypt.
	Plain bool `json:"plain,omitempty"`
}

// TPMAccess lets the service reach one TPM device (backend tpm2: the key never leaves the TPM, so the
// service signs through the kernel's TPM resource manager).
type TPMAccess struct {
	// Device is the resource manager's device node, e.g. /dev/tpmrm0.
	Device string `json:"device"`
	// Group owns the device (Debian's tpm-udev rules: tss); the service joins it.
	Group string `json:"group"`
}

// Options describe the service. Zero fields take the defaults documented on each.
type Options struct {
	// Name is the service name; default "systemuser-agent".
	Name string
	// DisplayName is shown by the Windows services console; default "systemuser-agent".
	DisplayName string
	// Description says what the service does.
	Description string
	// Executable is the absolute path of the agent binary the service runs.
	Executable string
	// ConfigPath is the config file; the service runs "run --config <path> --state-dir <dir>" and
	// nothing else: nothing secret is ever in its arguments or environment.
	ConfigPath string
	// StateDir is the state directory; default /var/lib/systemuser-agent on Linux (it must lie under
	// /var/lib so systemd owns it through StateDirectory=), %ProgramData%\systemuser-agent\state on
	// Windows.
	StateDir string
	// User is the account the service runs as. Empty means DynamicUser=yes on Linux and the virtual
	// account NT SERVICE\<Name> on Windows. No password is ever taken: on Windows only accounts without
	// one (virtual accounts, gMSA "DOMAIN\name$", NT AUTHORITY\LocalService) work.
	User string
	// Credential, when set, is the systemd-creds key the unit loads (Linux only).
	Credential *Credential
	// TPM, when set, is the TPM device the service may use (backend tpm2, Linux only); nothing else in
	// the sandbox changes.
	TPM *TPMAccess
	// ListenPort is informational: the unit names it in a comment so "systemctl cat" shows it.
	ListenPort int
	// UnixSocket is the config's unix_socket (Linux): the unit has systemd make its directory under
	// /run (RuntimeDirectory=) and leaves the uids callers connect with as they are (no PrivateUsers=).
	UnixSocket string
	// UnitDir is where the unit file goes; default /etc/systemd/system. It must end in
	// /etc/systemd/system: a prefix (tests use a temporary one) is passed to systemctl as --root and
	// is never the live system's.
	UnitDir string
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	credNameRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)
	unixUserRE  = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,30}$`)
	dirNameRE   = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
	tpmDeviceRE = regexp.MustCompile(`^/dev/tpmrm[0-9]{1,3}$`)
)

// withDefaults fills zero fields; goos picks the platform defaults.
func (o Options) withDefaults(goos string) Options {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.DisplayName == "" {
		o.DisplayName = o.Name
	}
	if o.Description == "" {
		o.Description = "Altinn system-user tokens from Maskinporten for local software (systemuser-agent)"
	}
	if o.UnitDir == "" {
		o.UnitDir = DefaultUnitDir
	}
	if o.StateDir == "" {
		if goos == "windows" {
			o.StateDir = windowsDefaultStateDir
		} else {
			o.StateDir = DefaultStateDir
		}
	}
	return o
}

// validateCommon checks what every platform needs: a sane name, absolute paths, no control characters.
func (o Options) validateCommon(isAbs func(string) bool) error {
	if !nameRE.MatchString(o.Name) {
		return fmt.Errorf("service name %q is not valid: use lowercase letters, digits, '.', '_' and '-' (at most 64)", o.Name)
	}
	for _, f := range []struct{ field, value string }{
		{"executable", o.Executable}, {"config path", o.ConfigPath}, {"state directory", o.StateDir},
	} {
		if f.value == "" {
			return fmt.Errorf("service %s is empty: give an absolute path", f.field)
		}
		if !isAbs(f.value) {
			return fmt.Errorf("service %s %q is not absolute: give an absolute path", f.field, f.value)
		}
		if hasControl(f.value) {
			return fmt.Errorf("service %s %q contains a control character: choose a plain path", f.field, f.value)
		}
	}
	if hasControl(o.DisplayName) || hasControl(o.Description) || hasControl(o.User) {
		return errors.New("service display name, description or user contains a control character: remove it")
	}
	if o.ListenPort < 0 || o.ListenPort > 65535 {
		return fmt.Errorf("listen port %d is out of range 0-65535", o.ListenPort)
	}
	return nil
}

// validateLinux adds the systemd unit's rules.
func (o Options) validateLinux() error {
	if err := o.validateCommon(path.IsAbs); err != nil {
		return err
	}
	if _, err := stateDirectoryName(o.StateDir); err != nil {
		return err
	}
	if o.User != "" && !unixUserRE.MatchString(o.User) {
		return fmt.Errorf("user %q is not a valid Linux user name; leave it empty for DynamicUser=yes (recommended)", o.User)
	}
	if o.User == "root" {
		return errors.New("refusing to run the service as root: leave the user empty for DynamicUser=yes")
	}
	if c := o.Credential; c != nil {
		if !credNameRE.MatchString(c.Name) || c.Name == ConfigCredential {
			return fmt.Errorf("credential name %q is not valid: letters, digits, '_', '.', '-', not %q", c.Name, ConfigCredential)
		}
		if !path.IsAbs(c.Path) || hasControl(c.Path) {
			return fmt.Errorf("credential path %q must be an absolute plain path, e.g. /etc/credstore.encrypted/%s.cred", c.Path, c.Name)
		}
	}
	if t := o.TPM; t != nil {
		if !tpmDeviceRE.MatchString(t.Device) {
			return fmt.Errorf("TPM device %q is not a TPM resource manager: use /dev/tpmrm0", t.Device)
		}
		if !unixUserRE.MatchString(t.Group) || t.Group == "root" {
			return fmt.Errorf("TPM device group %q is not usable: the device must belong to a group such as tss (Debian: apt-get install tpm-udev), not root", t.Group)
		}
	}
	if _, err := unitRoot(o.UnitDir); err != nil {
		return err
	}
	return nil
}

// stateDirectoryName turns /var/lib/x/y into "x/y" for StateDirectory=.
func stateDirectoryName(dir string) (string, error) {
	clean := path.Clean(dir)
	rel, ok := strings.CutPrefix(clean, "/var/lib/")
	if !ok || rel == "" || rel == "private" || strings.HasPrefix(rel, "private/") {
		return "", fmt.Errorf("state directory %q must lie under /var/lib/ (systemd creates and owns it through StateDirectory=); use %s", dir, DefaultStateDir)
	}
	if !dirNameRE.MatchString(rel) {
		return "", fmt.Errorf("state directory %q may hold only letters, digits, '/', '.', '_' and '-'", dir)
	}
	return rel, nil
}

// configurationDirectoryName turns /etc/x/config.yaml into "x" for ConfigurationDirectory=, or "" when
// the config is not in its own directory under /etc.
func configurationDirectoryName(configPath string) string {
	rel, ok := strings.CutPrefix(path.Dir(path.Clean(configPath)), "/etc/")
	if !ok || rel == "" || !dirNameRE.MatchString(rel) {
		return ""
	}
	return rel
}

// unitRoot returns the --root prefix of a unit directory ("" for the live system).
func unitRoot(unitDir string) (string, error) {
	clean := path.Clean(unitDir)
	root, ok := strings.CutSuffix(clean, DefaultUnitDir)
	if !ok || (root != "" && !path.IsAbs(root)) {
		return "", fmt.Errorf("unit directory %q must be %s (or end in it under a test root)", unitDir, DefaultUnitDir)
	}
	return root, nil
}

// serviceArgs are the arguments the service manager passes to the executable: the config path and the
// state directory, nothing else. configArg is what the service reads the config from (on Linux the
// credential copy %d/config.yaml).
func serviceArgs(configArg, stateDir string) []string {
	return []string{"run", "--config", configArg, "--state-dir", stateDir}
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// DefaultConfigPath is where the CLI and the service look for the config unless told otherwise:
// /etc/systemuser-agent/config.yaml, or %ProgramData%\systemuser-agent\config.yaml on Windows.
func DefaultConfigPath() string {
	if runtime.GOOS == "windows" {
		return `C:\ProgramData\systemuser-agent\config.yaml`
	}
	return "/etc/systemuser-agent/config.yaml"
}

// ServiceStateDir is the state directory the installed service uses on this OS (the default of
// Options.StateDir), so state the CLI writes is the state the service reads.
func ServiceStateDir() string {
	if runtime.GOOS == "windows" {
		return windowsDefaultStateDir
	}
	return DefaultStateDir
}
