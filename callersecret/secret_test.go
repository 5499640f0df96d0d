package callersecret

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// me is the account running the test.
func me(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// TestSecretFileOwnerAndRefusals: the file goes to the named account; a symlink or a directory others
// can write is refused, and nothing is written through them.
func TestSecretFileOwnerAndRefusals(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Run("owner", func(t *testing.T) {
		nobody, err := user.Lookup("nobody")
		if os.Geteuid() != 0 || err != nil {
			t.Skip("needs root and the account nobody to give a file away")
		}
		path := filepath.Join(dir, "owned", "x.secret")
		if err := Write(path, "nobody", s, false); err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		uid, gid := fileOwner(fi)
		if strconv.Itoa(uid) != nobody.Uid || strconv.Itoa(gid) != nobody.Gid || fi.Mode().Perm() != 0o400 {
			t.Errorf("owner %d:%d mode %v, want %s:%s 0400", uid, gid, fi.Mode().Perm(), nobody.Uid, nobody.Gid)
		}
		if d, _ := os.Stat(filepath.Dir(path)); d.Mode().Perm() != 0o711 {
			t.Errorf("new secret directory mode %v, want 0711", d.Mode().Perm())
		}
	})
	t.Run("symlink", func(t *testing.T) {
		victim := filepath.Join(dir, "victim")
		if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link.secret")
		if err := os.Symlink(victim, link); err != nil {
			t.Fatal(err)
		}
		if err := Write(link, me(t), s, false); err == nil {
			t.Fatal("wrote through a symlink")
		}
		if b, _ := os.ReadFile(victim); string(b) != "keep" {
			t.Errorf("the symlink's target changed: %q", b)
		}
	})
	t.Run("open directory", func(t *testing.T) {
		open := filepath.Join(dir, "open")
		if err := os.Mkdir(open, 0o777); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(open, 0o777)
		err := Write(filepath.Join(open, "x.secret"), me(t), s, false)
		want := "chmod go-w"
		if runtime.GOOS == "windows" {
			want = "protected DACL" // a folder that inherits its permissions
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v", err)
		}
	})
}

// TestCallerSecretRedacted: every formatter, slog and JSON print [redacted], never the secret.
func TestCallerSecretRedacted(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s)
	j, _ := json.Marshal(map[string]any{"s": s})
	out := fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s) + logs.String() + string(j)
	if strings.Contains(out, string(s.Reveal())) || !strings.Contains(out, "[redacted]") {
		t.Errorf("formatted: %s", out)
	}
	if s.Digest() != sha(s.Reveal()) {
		t.Error("digest is not the SHA-256 hex of the secret")
	}
}
