package keystore

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Credential returns the decrypted credential of key name as systemd would give it to the service (the
// key's PEM, with its certificate chain): what "agent service reload" hands to the running service. It
// needs root, like every decryption. The caller wipes the result.
func (s *SystemdCreds) Credential(ctx context.Context, name string) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	path := SystemdCredPath(s.dir, name)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keystore systemd-creds: %q: no %s: %w", name, path, ErrNotFound)
	}
	var out bytes.Buffer
	out.Grow(16 << 10) // one allocation: no stale copies of the key left behind by growth
	if err := s.run(ctx, &out, nil, "decrypt", "--name="+SystemdCredName(name), path, "-"); err != nil {
		b := out.Bytes()
		Wipe(b[:cap(b)])
		return nil, fmt.Errorf("keystore systemd-creds: decrypt %s: %w", path, err)
	}
	return out.Bytes(), nil
}

// ParseCredential reads a key credential as Credential returns it (PEM key, certificate chain).
func ParseCredential(cred []byte) (crypto.Signer, error) { return parseStoredPEM(cred) }

// Refresh makes k the key under name from now on, in place of the copy systemd put in
// $CREDENTIALS_DIRECTORY when the service started: a reload handed it over (Credential, ParseCredential).
func (s *SystemdCreds) Refresh(name string, k crypto.Signer) error {
	if err := CheckName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handed == nil {
		s.handed = map[string]crypto.Signer{}
	}
	s.handed[name] = k
	return nil
}

func (s *SystemdCreds) handedKey(name string) crypto.Signer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handed[name]
}
