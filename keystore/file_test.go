package keystore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestFileConformance(t *testing.T) {
	skipFileBackendOnWindows(t)
	testStore(t, func(t *testing.T) Store {
		s, err := Open(Options{Backend: BackendFile, Dir: filepath.Join(t.TempDir(), "keys"), AllowFile: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFileNeedsExplicitPermission(t *testing.T) {
	_, err := Open(Options{Backend: BackendFile, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "development only") {
		t.Fatalf("file backend without AllowFile: got %v", err)
	}
	if _, err := Open(Options{Backend: BackendFile, AllowFile: true}); err == nil {
		t.Fatal("file backend without a directory was accepted")
	}
}

func TestFileWritesOwnerOnlyAtomically(t *testing.T) {
	skipFileBackendOnWindows(t)
	dir := t.TempDir()
	s, err := Open(Options{Backend: BackendFile, Dir: dir, AllowFile: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Generate(context.Background(), "k", 2048); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "k.pem" {
		t.Fatalf("directory holds %v; want only k.pem (no temp files)", entries)
	}
	fi, err := os.Stat(filepath.Join(dir, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 600", fi.Mode().Perm())
	}
}

func TestFileRefusesLoosePermissions(t *testing.T) {
	skipFileBackendOnWindows(t)
	ctx := context.Background()
	t.Run("group-readable key", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(Options{Backend: BackendFile, Dir: dir, AllowFile: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Generate(ctx, "k", 2048); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "k.pem")
		for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
			_, err := s.Signer(ctx, "k")
			if err == nil || !strings.Contains(err.Error(), "chmod 600") {
				t.Fatalf("mode %o: got %v, want a refusal naming chmod 600", mode, err)
			}
		}
		if err := os.Chmod(p, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signer(ctx, "k"); err != nil {
			t.Fatalf("mode 400 refused: %v", err)
		}
	})
	t.Run("symlinked key", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(Options{Backend: BackendFile, Dir: dir, AllowFile: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Generate(ctx, "real", 2048); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(dir, "real.pem"), filepath.Join(dir, "link.pem")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signer(ctx, "link"); err == nil {
			t.Fatal("a symlinked key file was read")
		}
	})
	t.Run("directory writable by others", func(t *testing.T) {
		for _, mode := range []os.FileMode{0o777, 0o1777, 0o770} {
			dir := t.TempDir()
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			_, err := Open(Options{Backend: BackendFile, Dir: dir, AllowFile: true})
			if err == nil || !strings.Contains(err.Error(), "chmod 700") {
				t.Fatalf("dir mode %o: got %v", mode, err)
			}
		}
	})
	t.Run("directory loosened after open", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(Options{Backend: BackendFile, Dir: dir, AllowFile: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "k", rsaTestKey(t, 2048)); err == nil {
			t.Fatal("Put into a world-writable directory succeeded")
		}
		if _, err := s.Signer(ctx, "k"); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("Signer in a world-writable directory: got %v", err)
		}
	})
}

// skipFileBackendOnWindows skips a test of the file backend, which Windows refuses outright because
// its permission checks are Unix modes (TestOpen shows the refusal).
func skipFileBackendOnWindows(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the file backend is refused on Windows (TestOpen); its Unix permission checks do not apply")
	}
}
