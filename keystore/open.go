package keystore

import (
	"context"
	"fmt"
	"net"
	"runtime"
)

// Backend names as written in config (key.backend).
const (
	BackendKeyring      = "keyring"
	BackendSystemdCreds = "systemd-creds"
	BackendFile         = "file"
	BackendMemory       = "memory"
	BackendTPM2         = "tpm2"
)

// Options selects and configures a backend for Open.
type Options struct {
	// Backend is keyring, systemd-creds, file (development only) or memory.
	Backend string
	// Service is the keyring service name entries are filed under; default DefaultService.
	Service string
	// Dir is the file backend's directory (required), the systemd-creds backend's store of encrypted
	// credentials (default DefaultCredStoreDir), or the tpm2 backend's key files (default DefaultTPM2Dir).
	Dir string
	// CredentialsDir is where systemd put the decrypted credentials for the running service: pass
	// $CREDENTIALS_DIRECTORY (Open reads no environment). Empty outside the service.
	CredentialsDir string
	// TPMDevice is the tpm2 backend's TPM: default DefaultTPMDevice; a software TPM socket
	// (SWTPMDevice) for tests and the sandbox.
	TPMDevice string
	// Thumbprint selects the windows-cert backend's certificate (SHA-1, 40 hex digits).
	Thumbprint string
	// SystemdCreds is the systemd-creds executable; default "systemd-creds" from PATH.
	SystemdCreds string
	// AllowFile permits the file backend, which keeps the key in plain text on disk: set it only when the
	// operator named backend file explicitly for development or the sandbox (D17).
	AllowFile bool
	// InService is true inside the running service. On Windows a keyring store opened outside the
	// service (the admin's CLI) goes through the service's hand-over pipe, so keys land in the service
	// account's vault, not the admin's (doc.go). Elsewhere it changes nothing.
	InService bool
	// Handover names the Windows hand-over pipe and the service account that must serve it; zero for the
	// defaults. Unused elsewhere.
	Handover HandoverEndpoint
}

// Open returns the backend o names.
func Open(o Options) (Store, error) {
	switch o.Backend {
	case BackendKeyring:
		if handoverRequired && !o.InService {
			ep := o.Handover.withDefaults()
			return NewRemote(BackendKeyring, func(ctx context.Context) (net.Conn, error) { return dialHandover(ctx, ep) }), nil
		}
		return newKeyring(o.Service), nil
	case BackendSystemdCreds:
		if runtime.GOOS != "linux" {
			return nil, fmt.Errorf("keystore: backend systemd-creds needs Linux with systemd; on %s use backend keyring: %w", runtime.GOOS, ErrUnavailable)
		}
		return newSystemdCreds(o.Dir, o.CredentialsDir, o.SystemdCreds)
	case BackendTPM2:
		if runtime.GOOS != "linux" {
			return nil, fmt.Errorf("keystore: backend tpm2 needs Linux (the kernel's TPM resource manager %s); on Windows use backend windows-cert, elsewhere keyring: %w", DefaultTPMDevice, ErrUnavailable)
		}
		return newTPM2(o.Dir, o.CredentialsDir, o.TPMDevice)
	case BackendWindowsCert:
		if runtime.GOOS != "windows" {
			return nil, fmt.Errorf("keystore: backend windows-cert needs Windows (the LocalMachine certificate store); on Linux use tpm2 or systemd-creds: %w", ErrUnavailable)
		}
		return newWindowsCert(o.Thumbprint)
	case BackendFile:
		if !o.AllowFile {
			return nil, fmt.Errorf("keystore: backend file keeps the private key in plain text on disk and is for development only: use keyring (desktops, Windows) or systemd-creds (Linux servers); to use it anyway for development, name it explicitly (key.backend: file with environment sandbox, or --backend file)")
		}
		if runtime.GOOS == "windows" {
			return nil, fmt.Errorf("keystore: backend file is not available on Windows, where its file permissions cannot be checked: use backend keyring")
		}
		return newFile(o.Dir)
	case BackendMemory:
		return NewMemory(), nil
	case "":
		return nil, fmt.Errorf("keystore: no key store backend named: set maskinporten.key.backend to keyring (desktops, Windows) or systemd-creds (Linux servers)")
	}
	return nil, fmt.Errorf("keystore: unknown key store backend %q: use keyring, systemd-creds, tpm2, windows-cert, file (development only) or memory", o.Backend)
}
