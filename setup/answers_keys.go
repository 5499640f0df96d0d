package setup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// DefaultKeyBackend is the key store the wizard proposes.
func DefaultKeyBackend(env config.Environment) string {
	if env == config.EnvSandbox {
		return config.BackendFile
	}
	return config.DefaultKeyBackend(runtime.GOOS)
}

func onLinux() bool { return runtime.GOOS == "linux" }

// KeepBackend drops a configured backend the environment no longer allows, so the default applies.
func KeepBackend(b string, env config.Environment) string {
	if (b == config.BackendFile || b == config.BackendMemory) && env != config.EnvSandbox {
		return ""
	}
	return b
}

// CheckBackend accepts a key store backend the environment allows on this OS.
func CheckBackend(env config.Environment) func(string) (string, error) {
	return func(s string) (string, error) {
		switch s {
		case config.BackendKeyring:
		case config.BackendSystemdCreds:
			if !onLinux() {
				return "", errors.New("systemd-creds needs Linux with systemd; use keyring")
			}
		case config.BackendTPM2:
			if !onLinux() {
				return "", errors.New("tpm2 needs Linux with a TPM 2.0; on Windows use keyring, or windows-cert for a certificate (set it in the config with key.thumbprint)")
			}
		case config.BackendWindowsCert:
			return "", errors.New("windows-cert selects a certificate by thumbprint: set maskinporten.key.backend windows-cert and key.thumbprint in the config, then run setup again")
		case config.BackendFile:
			if env != config.EnvSandbox {
				return "", errors.New("file keeps the key in plain text on disk, so it is allowed only with environment sandbox; use keyring or systemd-creds")
			}
		default:
			return "", errors.New("use keyring, systemd-creds, tpm2 (Linux with a TPM 2.0: the key never leaves it) or file (sandbox only)")
		}
		return s, nil
	}
}

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckKeyName accepts a key name for the key store.
func CheckKeyName(s string) (string, error) {
	if !keyNameRE.MatchString(s) {
		return "", errors.New("use letters, digits, '.', '_' and '-', starting with a letter or digit")
	}
	return s, nil
}

// CheckKeySource accepts generate or import.
func CheckKeySource(s string) (string, error) {
	s = strings.ToLower(s)
	if s != KeyGenerate && s != KeyImport {
		return "", errors.New("answer generate or import")
	}
	return s, nil
}

// CheckKeyFile accepts "-" (stdin) or a readable regular file, made absolute.
func CheckKeyFile(s string) (string, error) {
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
