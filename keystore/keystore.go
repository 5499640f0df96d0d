// Package keystore keeps the organisation's Maskinporten private key in a key store and hands it out as a
// crypto.Signer: the OS key store (Windows Credential Manager, macOS Keychain, Linux Secret Service),
// systemd encrypted credentials, a development-only file, or memory. It generates keys in place, imports
// PEM/JWK/PKCS#12, and prints only public JWKs.
//
// The agent and tokens packages must never import keystore: they get a crypto.Signer.
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
)
