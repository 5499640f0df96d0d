package setup

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// MaxKeyFile bounds how much of a key file (or stdin) an import reads.
const MaxKeyFile = 1 << 20

// maxPasswordFile bounds how much of a password file (or stdin) is read.
const maxPasswordFile = 4096

// Key sources of the key step.
const (
	// KeyGenerate makes a new RSA-2048 key in the key store, unless one is there.
	KeyGenerate = "generate"
	// KeyImport stores the key of KeyInput.
	KeyImport = "import"
)

// KeyInput is a private key to import and where its password comes from. A password never comes from a
// flag value or the environment.
type KeyInput struct {
	// File is the key file (PEM, DER, JWK or PKCS#12), or "-" for Stdin.
	File string
	// Stdin is read for File "-" and PasswordStdin.
	Stdin io.Reader
	// PasswordFile names a file whose first line is the password (PasswordLine).
	PasswordFile string
	// PasswordStdin reads the password from the first line of Stdin (not with File "-").
	PasswordStdin bool
	// Prompt asks for the password when the key is encrypted and no password was given; nil when
	// nobody can be asked.
	Prompt func(ctx context.Context) ([]byte, error)
	// Hint names the flags that give a password, for the error when one is needed and none was given.
	Hint string
}

// ReadKey reads and parses the key to import. A password given in a file or on stdin is read first;
// otherwise an encrypted key asks Prompt. The raw bytes and the password are wiped after parsing.
func ReadKey(ctx context.Context, in KeyInput) (crypto.Signer, error) {
	data, err := readInput(in.File, in.Stdin, MaxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read the key to import: %w", err)
	}
	defer keystore.Wipe(data)
	var pw []byte
	defer func() { keystore.Wipe(pw) }()
	switch {
	case in.PasswordFile != "":
		pw, err = ReadPassword(in.PasswordFile, nil)
	case in.PasswordStdin:
		pw, err = ReadPassword("-", in.Stdin)
	}
	if err != nil {
		return nil, err
	}
	key, err := keystore.ParseCertifiedKey(data, pw)
	if errors.Is(err, keystore.ErrPasswordNeeded) && pw == nil {
		if in.Prompt == nil {
			return nil, fmt.Errorf("%w: give it with %s (never as a flag value)", err, in.Hint)
		}
		if pw, err = in.Prompt(ctx); err != nil {
			return nil, fmt.Errorf("read the password: %w", err)
		}
		key, err = keystore.ParseCertifiedKey(data, pw)
	}
	return key, err
}

// putKey stores key as name with its enterprise certificate chain (PKCS#12, PEM bundle) where the
// backend keeps chains, and the key alone where it does not (keyring: ErrNoChain); grants with
// grant_header x5c then say the chain is missing.
func putKey(ctx context.Context, ks keystore.Store, name string, key crypto.Signer) error {
	err := ks.Put(ctx, name, key)
	if errors.Is(err, keystore.ErrNoChain) {
		err = ks.Put(ctx, name, keystore.KeyOnly(key))
	}
	return err
}

// ReadPassword reads a key's password from the file at path, or from r when path is "-". The one rule
// for password files: the password is the first line, without its line ending (\n or \r\n); anything
// after it is ignored, and an empty file is the empty password.
func ReadPassword(path string, r io.Reader) ([]byte, error) {
	raw, err := readInput(path, r, maxPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("read the password: %w", err)
	}
	defer keystore.Wipe(raw)
	return PasswordLine(raw), nil
}

// PasswordLine is the password in a password file's content: a copy of its first line without the
// line ending.
func PasswordLine(raw []byte) []byte {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	return bytes.Clone(bytes.TrimSuffix(line, []byte("\r")))
}

// readInput reads at most limit bytes from the file at path, or from r when path is "-"; more is an
// error.
func readInput(path string, r io.Reader, limit int64) ([]byte, error) {
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	if r == nil {
		return nil, errors.New("nothing to read from stdin")
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err == nil && int64(len(b)) > limit {
		keystore.Wipe(b)
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, err
}

// ImportKey reads the key of in and stores it as name (`agent keys import`). A key of that name already
// in the store is an error: it is never overwritten.
func ImportKey(ctx context.Context, ks keystore.Store, name string, in KeyInput) (crypto.Signer, error) {
	key, err := ReadKey(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := putKey(ctx, ks, name, key); err != nil {
		if errors.Is(err, keystore.ErrExists) {
			return nil, fmt.Errorf("%w: delete it first (agent keys delete --name %s --yes) or import under another --name", err, name)
		}
		return nil, err
	}
	return key, nil
}

// KeyResult is the key the key step found or made.
type KeyResult struct {
	// Signer is the key.
	Signer crypto.Signer
	// KID is the configured kid, or the key's RFC 7638 thumbprint.
	KID string
	// PublicJWK is the public key with its kid, to register on the Maskinporten client.
	PublicJWK []byte
	// New says the key was generated or imported now (so it must be registered).
	New bool
}

// EnsureKey makes sure the configured key is in ks: kept if there, else generated (source KeyGenerate)
// or imported from in (KeyImport). An imported key must equal a key already stored under its name.
func EnsureKey(ctx context.Context, ks keystore.Store, name, kid, source string, in KeyInput) (KeyResult, error) {
	signer, made, err := ensureKey(ctx, ks, name, source, nil, in)
	if err != nil {
		return KeyResult{}, err
	}
	info, err := DescribeKey(ks.Backend(), name, signer, kid)
	if err != nil {
		return KeyResult{}, err
	}
	return KeyResult{Signer: signer, KID: info.KID, PublicJWK: info.JWK, New: made}, nil
}

// ensureKey keeps, generates or imports the key; imported is the key to import when it was read already
// (else it is read from in).
func ensureKey(ctx context.Context, ks keystore.Store, name, source string, imported crypto.Signer, in KeyInput) (crypto.Signer, bool, error) {
	existing, err := ks.Signer(ctx, name)
	if err != nil && !errors.Is(err, keystore.ErrNotFound) {
		return nil, false, fmt.Errorf("read key %q from the %s key store: %w", name, ks.Backend(), err)
	}
	if source == KeyImport {
		if imported == nil {
			if imported, err = ReadKey(ctx, in); err != nil {
				return nil, false, err
			}
		}
		if existing != nil {
			if pub, ok := existing.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(imported.Public()) {
				return existing, false, nil
			}
			return nil, false, fmt.Errorf("another key named %q is already in the %s key store: delete it first (`agent keys delete %s`) or give --key-name another name",
				name, ks.Backend(), name)
		}
		if err := putKey(ctx, ks, name, imported); err != nil {
			return nil, false, fmt.Errorf("store the imported key as %q: %w", name, err)
		}
		return imported, true, nil
	}
	if existing != nil {
		return existing, false, nil
	}
	s, err := ks.Generate(ctx, name, 2048)
	if err != nil {
		return nil, false, fmt.Errorf("generate key %q in the %s key store: %w", name, ks.Backend(), err)
	}
	return s, true, nil
}
