package agent

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// childEnv makes the test binary run one test as a child process.
const childEnv = "AGENT_TEST_CHILD"

// canOpenMem reports whether a child process of the same uid can open /proc/<pid>/mem.
func canOpenMem(pid int) bool {
	out, _ := exec.Command("/bin/sh", "-c", "exec 3</proc/"+strconv.Itoa(pid)+"/mem && echo OPENED").Output()
	return strings.Contains(string(out), "OPENED")
}

// TestD12HardenProcess runs HardenProcess in a child process (it changes the whole process) and checks
// there that PR_GET_DUMPABLE and RLIMIT_CORE are 0, /proc/<pid>/mem belongs to root, and a process of
// the same uid could open it before but not after. As root (which may open it anyway) the child runs
// as nobody.
func TestD12HardenProcess(t *testing.T) {
	if os.Getenv(childEnv) == "harden" {
		hardenChild(t)
		return
	}
	bin := os.Args[0]
	cmd := exec.Command(bin, "-test.run=^TestD12HardenProcess$", "-test.v")
	if os.Getuid() == 0 {
		dir, err := os.MkdirTemp("", "harden")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bin = filepath.Join(dir, "agent.test")
		if err := copyFile(os.Args[0], bin); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(bin, "-test.run=^TestD12HardenProcess$", "-test.v")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	cmd.Env = append(os.Environ(), childEnv+"=harden")
	out, err := cmd.CombinedOutput()
	t.Logf("child output:\n%s", out)
	if err != nil || !strings.Contains(string(out), "HARDENED-OK") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func hardenChild(t *testing.T) {
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 1 {
		t.Fatalf("before: dumpable=%d err=%v, want 1 (the check would tell nothing)", d, err)
	}
	pid := os.Getpid()
	checkMem := os.Getuid() != 0 && canOpenMem(pid)
	if !checkMem {
		t.Log("a same-uid process cannot open /proc/<pid>/mem even before hardening here; skipping that check")
	}
	if err := HardenProcess(); err != nil {
		t.Fatal(err)
	}
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	var rl unix.Rlimit
	rerr := unix.Getrlimit(unix.RLIMIT_CORE, &rl)
	if err != nil || d != 0 || rerr != nil || rl.Cur != 0 || rl.Max != 0 {
		t.Fatalf("after: dumpable=%d (%v) core=%d/%d (%v), want 0", d, err, rl.Cur, rl.Max, rerr)
	}
	if fi, err := os.Stat("/proc/self/mem"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("/proc/self/mem not root-owned after hardening (%v)", err)
	}
	if checkMem && canOpenMem(pid) {
		t.Fatal("a same-uid process opened /proc/<pid>/mem after hardening")
	}
	_, _ = os.Stdout.WriteString("HARDENED-OK\n")
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
