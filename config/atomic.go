package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic replaces path with data so that readers, and a crash at any moment, see either the old
// file or the new one, never a mix: it writes a temporary file in the same directory, fsyncs it, sets perm,
// renames it over path and fsyncs the directory. On failure the temporary file is removed and path is left
// as it was. A symlink at path is replaced by a regular file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: create a temporary file next to it: %w; check that %s exists and is writable by this account", path, err, dir)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w; check free disk space", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: flush to disk: %w", tmp, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: set permissions %v: %w", tmp, perm, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", tmp, err)
	}
	if err = replaceFile(tmp, path); err != nil {
		return fmt.Errorf("write %s: replace it with the new version: %w; check that the directory is writable", path, err)
	}
	if err := syncDir(dir); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		// The rename happened; only its durability across a power cut is in doubt.
		return fmt.Errorf("wrote %s, but flushing directory %s failed: %w", path, dir, err)
	}
	return nil
}
