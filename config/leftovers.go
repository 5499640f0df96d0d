package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleTempAge is how old a temporary file must be before RemoveStaleTemps removes it: a write in
// progress (another `agent` command saving the same file) takes milliseconds, never this long.
const staleTempAge = 30 * time.Second

// RemoveStaleTemps removes the temporary files WriteFileAtomic leaves next to path when it is killed
// mid-write (".<name>.tmp-<digits>", e.g. .config.yaml.tmp-123456 or .state.json.tmp-99). It is safe to
// run at start: it removes only names of exactly that pattern, only regular files (a symlink, directory
// or anything else of that name is left alone and never followed), only files older than 30 s (so a
// concurrent save is not disturbed), and never path itself. It returns the names removed; a file it
// could not remove is an error naming it, after the others were tried.
func RemoveStaleTemps(path string, now time.Time) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("look for leftover temporary files of %s: %w", path, err)
	}
	prefix := "." + base + ".tmp-"
	var removed []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !allDigits(name[len(prefix):]) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p) // Lstat: a symlink is judged as itself, never followed
		if err != nil || !fi.Mode().IsRegular() || now.Sub(fi.ModTime()) < staleTempAge {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove the leftover temporary file %s: %w; remove it by hand", p, err))
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// RemoveStaleStateTemps is RemoveStaleTemps for the state file in the state directory dir.
func RemoveStaleStateTemps(dir string, now time.Time) ([]string, error) {
	return RemoveStaleTemps(StatePath(dir), now)
}

func allDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
