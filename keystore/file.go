package keystore

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// File keeps each key as a PKCS#8 PEM file "<dir>/<name>.pem", mode 0600: FOR DEVELOPMENT ONLY, since the
// key then sits on disk in plain text (D17). Open refuses it unless Options.AllowFile is set. It refuses a
// key file readable by group or others, a symlinked key file, and a directory writable by group or others.
type File struct {
	dir string
	mu  sync.Mutex
}

func newFile(dir string) (*File, error) {
	if dir == "" {
		return nil, errors.New("keystore file: no directory given: set key.path (or --path) to a directory only you can write")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keystore file: create %s: %w", dir, err)
	}
	f := &File{dir: dir}
	if err := f.checkDir(); err != nil {
		return nil, err
	}
	return f, nil
}

// Backend implements Store.
func (f *File) Backend() string { return "file" }

func (f *File) path(name string) string { return filepath.Join(f.dir, name+".pem") }

func (f *File) checkDir() error {
	fi, err := os.Stat(f.dir)
	if err != nil {
		return fmt.Errorf("keystore file: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("keystore file: %s is not a directory: point key.path at a directory", f.dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("keystore file: refusing %s: it is writable by group or others (mode %o), so another user could swap the key: chmod 700 %s", f.dir, fi.Mode().Perm(), f.dir)
	}
	return nil
}

// Generate implements Store.
func (f *File) Generate(ctx context.Context, name string, bits int) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	key, err := generateRSA(bits)
	if err != nil {
		return nil, err
	}
	if err := f.Put(ctx, name, key); err != nil {
		return nil, err
	}
	return key, nil
}

// Put implements Store: an atomic 0600 write that never replaces an existing key.
func (f *File) Put(_ context.Context, name string, key crypto.Signer) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := f.checkDir(); err != nil {
		return err
	}
	data, err := marshalPEM(key)
	if err != nil {
		return err
	}
	defer Wipe(data)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := writeNew(f.path(name), data); err != nil {
		return fmt.Errorf("keystore file: %q: %w", name, err)
	}
	return nil
}

// Signer implements Store.
func (f *File) Signer(_ context.Context, name string) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if err := f.checkDir(); err != nil {
		return nil, err
	}
	p := f.path(name)
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keystore file: %q: no %s: %w", name, p, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore file: refusing %s: not a regular file (symlink?): store the key itself there", p)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keystore file: refusing %s: readable or writable by group or others (mode %o): chmod 600 %s", p, fi.Mode().Perm(), p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("keystore file: %w", err)
	}
	defer Wipe(data)
	k, err := parseStoredPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, p)
	}
	return k, nil
}

// Delete implements Store.
func (f *File) Delete(_ context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	err := os.Remove(f.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keystore file: %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("keystore file: %w", err)
	}
	return nil
}

// List implements Store.
func (f *File) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("keystore file: %w", err)
	}
	names := []string{}
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".pem"); ok && e.Type().IsRegular() && CheckName(n) == nil {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// writeNew writes data to path with mode 0600, atomically (temp file, fsync, link) and only if path does
// not exist yet (ErrExists). The temp file sits in path's directory and is removed in every case.
func writeNew(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-key-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// A hard link fails if path exists: create-if-absent and atomic in one step.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, ErrExists)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
