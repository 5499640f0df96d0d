package keystore

import (
	"context"
	"crypto"
	"errors"
)

// Store is one key store backend. Names are the operator's labels ("maskinporten", "maskinporten-next").
// Implementations are safe for concurrent use.
type Store interface {
	// Backend is the backend's name as written in config ("memory", "keyring", "systemd-creds", "file").
	Backend() string
	// Generate makes a new RSA key of the given size in the store under name and returns its signer.
	// It fails with ErrExists if name is taken.
	Generate(ctx context.Context, name string, bits int) (crypto.Signer, error)
	// Put stores an existing private key under name; ErrExists if name is taken.
	Put(ctx context.Context, name string, key crypto.Signer) error
	// Signer returns the key stored under name, or ErrNotFound.
	Signer(ctx context.Context, name string) (crypto.Signer, error)
	// Delete removes the key under name, or returns ErrNotFound.
	Delete(ctx context.Context, name string) error
	// List returns the names of the keys in the store, sorted.
	List(ctx context.Context) ([]string, error)
}

var (
	// ErrNotFound means no key is stored under the name.
	ErrNotFound = errors.New("key not found")
	// ErrExists means a key is already stored under the name.
	ErrExists = errors.New("a key with that name already exists")
	// ErrUnavailable means the backend cannot be reached on this machine (no Secret Service, no
	// systemd-creds, the service's hand-over pipe is missing); the error text says what to use instead.
	ErrUnavailable = errors.New("key store backend unavailable")
	// ErrLocked means the OS key store is locked and must be unlocked by its owner.
	ErrLocked = errors.New("key store is locked")
	// ErrTooBig means the encoded key does not fit the backend's size limit (Windows Credential Manager).
	ErrTooBig = errors.New("key too big for the key store")
	// ErrPasswordNeeded means the key file is encrypted and no password was given.
	ErrPasswordNeeded = errors.New("the key is encrypted: a password is needed")
	// ErrWrongPassword means the password given does not decrypt the key.
	ErrWrongPassword = errors.New("wrong password")
	// ErrUnsupportedKey means the key is not an RSA private key of at least 2048 bits, or its format is
	// not one ParsePrivateKey reads.
	ErrUnsupportedKey = errors.New("unsupported key")
)

// Description says which backend holds the signing key and whether the key can be copied out of it:
// what doctor and /readyz report.
type Description struct {
	// Backend is the backend's name as written in config.
	Backend string `json:"backend"`
	// Exportable is false when the private key cannot leave the device that holds it (a TPM).
	Exportable bool `json:"exportable"`
	// Where says where the key lives, e.g. "TPM 2.0 at /dev/tpmrm0".
	Where string `json:"where"`
}

// describer is implemented by stores whose keys are not plain bytes in a key store.
type describer interface{ describe() Description }

// Describe says which backend s is and whether its keys can be exported.
func Describe(s Store) Description {
	if d, ok := s.(describer); ok {
		return d.describe()
	}
	where := map[string]string{
		BackendKeyring:      "OS key store (encrypted at rest, readable by the service account)",
		BackendSystemdCreds: "systemd encrypted credential (decrypted into the service's memory)",
		BackendFile:         "plain file (development only)", BackendMemory: "process memory",
	}[s.Backend()]
	return Description{Backend: s.Backend(), Exportable: true, Where: where}
}

// Close releases what s holds open (the tpm2 backend's TPM connection); other backends hold nothing.
func Close(s Store) error {
	if c, ok := s.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}
