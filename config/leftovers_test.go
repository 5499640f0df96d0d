package config

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestRemoveStaleTemps: leftovers of a killed write are removed at start; nothing else is: not the file
// itself, not other names, not a fresh temp file (a save in progress), not a symlink (nor its target),
// not a directory.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	old := time.Now().Add(-time.Hour)
	write := func(name string, age time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("config.yaml", old)
	stale1 := write(".config.yaml.tmp-123456", old)
	stale2 := write(".state.json.tmp-42", old)
	fresh := write(".config.yaml.tmp-777", time.Now())
	keep := []string{cfg, fresh,
		write(".config.yaml.tmp-12ab", old),      // not our pattern
		write("config.yaml.tmp-1", old),          // no leading dot
		write(".other.yaml.tmp-1", old),          // another file's
		write(".config.yaml.tmp-", old),          // no digits
		write("important.txt", old),              // a symlink's target
		filepath.Join(dir, ".config.yaml.tmp-9"), // a directory
	}
	if err := os.Mkdir(keep[len(keep)-1], 0o700); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		link := filepath.Join(dir, ".config.yaml.tmp-55")
		if err := os.Symlink(filepath.Join(dir, "important.txt"), link); err != nil {
			t.Fatal(err)
		}
		keep = append(keep, link)
	}
	got, err := RemoveStaleTemps(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got2, err := RemoveStaleStateTemps(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{stale1}) || !slices.Equal(got2, []string{stale2}) {
		t.Fatalf("removed %v and %v, want %v and %v", got, got2, stale1, stale2)
	}
	for _, p := range []string{stale1, stale2} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if _, err := RemoveStaleTemps(filepath.Join(dir, "missing", "config.yaml"), time.Now()); err != nil {
		t.Errorf("a missing directory: %v", err)
	}
}
