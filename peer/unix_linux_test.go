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

// TestD10UnixMappedUIDNeedsNoSecret: with os_user "nobody" mapped, a process running as nobody gets a
// token over the socket with no secret, and root's connection (not mapped) is dropped. Needs root to
// start the second uid.
func TestD10UnixMappedUIDNeedsNoSecret(t *testing.T) {
	if sock := os.Getenv(childEnv); sock != "" {
		status, tok, err := tokenOver(func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		})
		_, _ = io.WriteString(os.Stdout, "STATUS="+strconv.Itoa(status)+" TOKEN="+tok+" ERR="+strings.ReplaceAll(errString(err), " ", "_")+"\n")
		return
	}
	realdeps.Require(t, os.Geteuid() == 0, "root", "run the tests as root (CI does) to start a client as uid 65534")
	dir, err := os.MkdirTemp("", "peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run", "agent.sock")
	ln, err := ListenUnix(path, []string{"nobody"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(path), path} { // the callers' group may connect
		if err := os.Chown(p, -1, 65534); err != nil {
			t.Fatal(err)
		}
	}
	serve(t, testConfig("nobody"), ln)
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "STATUS=200 TOKEN=tok-test:a ") {
		t.Fatalf("nobody over the socket with no secret: %v\n%s", err, out)
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
		{[]string{"nobody", "65534"}, "same account"},
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
