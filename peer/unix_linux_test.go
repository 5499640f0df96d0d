package peer

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

const childEnv = "PEER_TEST_CHILD_SOCK"

// testUID is the caller's account in the tests: a uid with no passwd entry, so it is nobody's.
const testUID = "64123"

// TestD10UnixMappedUIDNeedsNoSecret: with os_user uid 64123 mapped, a process running as that uid gets
// a token over the socket with no secret, reaching it through the 0750 directory and 0660 socket by the
// ACL entries ListenUnix adds (no chown, no group), and root's connection (not mapped) is dropped. Needs
// root to start the second uid.
func TestD10UnixMappedUIDNeedsNoSecret(t *testing.T) {
	if sock := os.Getenv(childEnv); sock != "" {
		status, tok, err := tokenOver(func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		})
		_, _ = io.WriteString(os.Stdout, "STATUS="+strconv.Itoa(status)+" TOKEN="+tok+" ERR="+strings.ReplaceAll(errString(err), " ", "_")+"\n")
		return
	}
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does) to start a client as uid "+testUID)
	dir, err := os.MkdirTemp("", "peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run", "agent.sock")
	ln, err := ListenUnix(path, []string{testUID})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o750, path: 0o660} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want mode %04o", p, fi.Mode(), err, want)
		}
	}
	serve(t, testConfig(testUID), ln)
	if status, _, err := tokenOver(func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}); err == nil {
		t.Fatalf("root (not mapped) got HTTP %d", status)
	}
	bin := filepath.Join(dir, "peer.test")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestD10UnixMappedUIDNeedsNoSecret$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 64123, Gid: 64123}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "STATUS=200 TOKEN=tok-test:a ") {
		t.Fatalf("uid %s over the socket with no secret: %v\n%s", testUID, err, out)
	}
}

// TestListenUnixAccounts: os_user names and uids resolve; an unknown name or the same account written
// two ways is refused with the fix.
func TestListenUnixAccounts(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		users []string
		want  string
	}{
		{[]string{"no-such-user-xyz"}, "name an existing account"},
		{[]string{"root", "0"}, "same account"},
		{[]string{"65534"}, "overflow uid"},
	} {
		ln, err := ListenUnix(filepath.Join(dir, "s", "a.sock"), tc.users)
		if err == nil {
			ln.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.users, err, tc.want)
		}
	}
	ln, err := ListenUnix(filepath.Join(dir, "ok", "a.sock"), []string{strconv.Itoa(os.Getuid())})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o755)
}
