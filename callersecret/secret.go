// Package callersecret makes local callers' secrets and writes them to files only the caller's OS account
// can read (Unix: mode 0400 owned by the account; Windows: a protected DACL). A Secret redacts itself in
// every formatter, log and JSON; only Reveal gives its text. The config keeps only its SHA-256 (Digest).
//
// callersecret is imported by setup (the wizard's callers step, `agent clients`) and cmd/agent (the demo).
package callersecret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// Secret is a local caller's secret: 256 random bits, base64url without padding. Every formatter
// prints [redacted]; only reveal gives the text, for the caller's file and --print-secret (D5, D11).
type Secret struct{ b []byte }

// New makes a fresh secret from crypto/rand.
func New() (*Secret, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("make a caller secret: %w", err)
	}
	b := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(b, raw)
	return &Secret{b: b}, nil
}

// String prints [redacted].
func (*Secret) String() string { return "[redacted]" }

// GoString prints [redacted].
func (*Secret) GoString() string { return "[redacted]" }

// Format prints [redacted] for every verb.
func (*Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// LogValue logs [redacted].
func (*Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalText encodes [redacted].
func (*Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the secret's text. Only the caller's file and --print-secret may see it.
func (s *Secret) Reveal() []byte { return s.b }

// Digest is the hex SHA-256 the config keeps (clients[].secret_sha256), as the agent computes it.
func (s *Secret) Digest() string { return digestOf(s.b) }

func digestOf(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// maxSecretFile bounds how much of a caller's secret file is read when checking it.
const maxSecretFile = 4096

// Matches reports whether the file at path holds the secret whose digest is want. A missing
// file is (false, nil); an unreadable one is an error.
func Matches(path, want string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read the caller secret file %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile))
	if err != nil {
		return false, fmt.Errorf("read the caller secret file %s: %w", path, err)
	}
	got := digestOf(b)
	clear(b)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1, nil
}

// Write writes the secret to path, readable only by osUser (Unix: mode 0400 owned by the
// account; Windows: a protected DACL for the account, SYSTEM and Administrators). Without replace the
// file must not exist yet (it is created exclusively, never through a symlink); with replace a new file
// is staged beside it and renamed over it, so a reader sees the old or the new secret, never half.
// The directory is created when missing and refused when other accounts could change it.
func Write(path, osUser string, s *Secret, replace bool) error {
	if !replace {
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("secret file %s: %w", path, err)
		}
		dir, base := filepath.Split(abs)
		return create(dir, base, osUser, s)
	}
	st, err := Stage(path, osUser, s)
	if err != nil {
		return err
	}
	return st.Commit()
}

// Staged is a new secret file written beside the one it replaces; Commit renames it into place,
// Discard removes it.
type Staged struct {
	staged, final string
}

// Stage writes s to a new file beside path (exclusively, as Write does) without touching path, so the
// config can be saved before the file is swapped (`agent clients rotate`).
func Stage(path, osUser string, s *Secret) (*Staged, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("secret file %s: %w", path, err)
	}
	dir, base := filepath.Split(abs)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	name := "." + base + ".new-" + hex.EncodeToString(suffix)
	if err := create(dir, name, osUser, s); err != nil {
		return nil, err
	}
	return &Staged{staged: filepath.Join(dir, name), final: abs}, nil
}

// Commit renames the staged file over the old one.
func (st *Staged) Commit() error {
	if err := os.Rename(st.staged, st.final); err != nil {
		_ = os.Remove(st.staged)
		return fmt.Errorf("replace the caller secret file %s: %w", st.final, err)
	}
	return nil
}

// Discard removes the staged file.
func (st *Staged) Discard() { _ = os.Remove(st.staged) }

// Path is where the staged file is.
func (st *Staged) Path() string { return st.staged }

// create makes dir/name for osUser, after checking the account and the directory.
func create(dir, name, osUser string, s *Secret) error {
	acct, err := lookupOwner(osUser)
	if err != nil {
		return err
	}
	if err := ensureSecretDir(dir); err != nil {
		return err
	}
	return createSecretFile(dir, name, s.Reveal(), acct)
}

// CheckOwner says whether a secret file could be given to the OS account name: it exists, and (on Unix)
// this process may give files to it.
func CheckOwner(name string) error {
	_, err := lookupOwner(name)
	return err
}

// Remove deletes a caller's secret file; a missing file is no error. It reports whether a file was
// deleted.
func Remove(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// WriteNetrc writes a netrc file (mode 0600, for curl --netrc-file) holding the caller's id and secret
// for host. The file must not exist yet.
func WriteNetrc(path, host, id string, s *Secret) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create the netrc file: %w", err)
	}
	_, err = fmt.Fprintf(f, "machine %s login %s password %s\n", host, id, s.Reveal())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("write the netrc file %s: %w", path, err)
	}
	return nil
}

// DefaultPath is where a caller's secret goes when no path is given: a directory beside the
// config directory (…/systemuser-agent-clients/<id>.secret), since the config directory itself is
// owner-only and the caller's account could not reach into it.
func DefaultPath(configPath, id string) string {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	dir := filepath.Dir(abs)
	return filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-clients", id+".secret")
}
