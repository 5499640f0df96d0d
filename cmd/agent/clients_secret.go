package main

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

// callerSecret is a local caller's secret: 256 random bits, base64url without padding. Every formatter
// prints [redacted]; only reveal gives the text, for the caller's file and --print-secret (D5, D11).
type callerSecret struct{ b []byte }

// makeCallerSecret makes a fresh secret from crypto/rand.
func makeCallerSecret() (*callerSecret, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("make a caller secret: %w", err)
	}
	b := make([]byte, base64.RawURLEncoding.EncodedLen(len(raw)))
	base64.RawURLEncoding.Encode(b, raw)
	return &callerSecret{b: b}, nil
}

func (*callerSecret) String() string               { return "[redacted]" }
func (*callerSecret) GoString() string             { return "[redacted]" }
func (*callerSecret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte("[redacted]")) }
func (*callerSecret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (*callerSecret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// reveal returns the secret's text. Only the caller's file and --print-secret may see it.
func (s *callerSecret) reveal() []byte { return s.b }

// digest is the hex SHA-256 the config keeps (clients[].secret_sha256), as the agent computes it.
func (s *callerSecret) digest() string { return digestOf(s.b) }

func digestOf(b []byte) string {
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

// maxSecretFile bounds how much of a caller's secret file is read when checking it.
const maxSecretFile = 4096

// secretFileMatches reports whether the file at path holds the secret whose digest is want. A missing
// file is (false, nil); an unreadable one is an error.
func secretFileMatches(path, want string) (bool, error) {
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

// writeSecretFile writes the secret to path, readable only by osUser (Unix: mode 0400 owned by the
// account; Windows: a protected DACL for the account, SYSTEM and Administrators). Without replace the
// file must not exist yet (it is created exclusively, never through a symlink); with replace a new file
// is written beside it and renamed over it, so a reader sees the old or the new secret, never half.
// The directory is created when missing and refused when other accounts could change it.
func writeSecretFile(path, osUser string, s *callerSecret, replace bool) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("secret file %s: %w", path, err)
	}
	dir, base := filepath.Split(abs)
	acct, err := lookupSecretOwner(osUser)
	if err != nil {
		return err
	}
	if err := ensureSecretDir(dir); err != nil {
		return err
	}
	name := base
	if replace {
		suffix := make([]byte, 6)
		_, _ = rand.Read(suffix)
		name = "." + base + ".new-" + hex.EncodeToString(suffix)
	}
	if err := createSecretFile(dir, name, s.reveal(), acct); err != nil {
		return err
	}
	if !replace {
		return nil
	}
	if err := os.Rename(filepath.Join(dir, name), abs); err != nil {
		_ = os.Remove(filepath.Join(dir, name))
		return fmt.Errorf("replace the caller secret file %s: %w", abs, err)
	}
	return nil
}

// defaultSecretFile is where a caller's secret goes when no path is given: a directory beside the
// config directory (…/systemuser-agent-clients/<id>.secret), since the config directory itself is
// owner-only and the caller's account could not reach into it.
func defaultSecretFile(configPath, id string) string {
	abs, err := filepath.Abs(configPath)
	if err != nil {
		abs = configPath
	}
	dir := filepath.Dir(abs)
	return filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-clients", id+".secret")
}
