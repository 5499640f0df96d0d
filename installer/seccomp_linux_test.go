package installer

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// syscallGroups parses "systemd-analyze syscall-filter" into group → members (names and @groups).
func syscallGroups(t *testing.T, tool string) map[string][]string {
	t.Helper()
	out, err := exec.Command(tool, "syscall-filter", "--no-pager").Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter: %v", err)
	}
	groups := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "@"):
			cur = strings.TrimSpace(line)
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			cur = ""
		case cur != "" && strings.HasPrefix(line, " ") && !strings.HasPrefix(strings.TrimSpace(line), "#"):
			groups[cur] = append(groups[cur], strings.TrimSpace(line))
		}
	}
	return groups
}

// expand resolves a group to its system call names.
func expand(t *testing.T, groups map[string][]string, name string, into map[string]bool) {
	t.Helper()
	if !strings.HasPrefix(name, "@") {
		into[name] = true
		return
	}
	members, ok := groups[name]
	if !ok {
		t.Fatalf("systemd-analyze syscall-filter lists no group %s", name)
	}
	for _, m := range members {
		expand(t, groups, m, into)
	}
}

var straceCall = regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\(`)

// TestSeccompFilterAllowsServiceSyscalls runs the service process (RunService serving HTTP, one
// request, SIGTERM) under strace and checks every system call it made against the unit's filter
// (SystemCallFilter=@system-service minus @privileged and @resources). systemd is not PID 1 here, so the
// unit itself cannot be started; this is the closest check that seccomp would not break the Go runtime,
// net/http or the stop path at run time. The lead's end-to-end test should repeat it with the real agent.
func TestSeccompFilterAllowsServiceSyscalls(t *testing.T) {
	analyze := realdeps.Tool(t, "systemd-analyze", getSystemd)
	strace := realdeps.Tool(t, "strace", "apt-get install strace")
	groups := syscallGroups(t, analyze)
	allowed, denied := map[string]bool{}, map[string]bool{}
	expand(t, groups, "@system-service", allowed)
	expand(t, groups, "@privileged", denied)
	expand(t, groups, "@resources", denied)

	trace := filepath.Join(t.TempDir(), "strace.out")
	cmd := exec.Command(strace, "-f", "-qq", "-o", trace, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=serve")
	lines := startLines(t, cmd)
	pid, err := strconv.Atoi(strings.TrimPrefix(next(t, lines, "pid "), "pid "))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(next(t, lines, "addr "), "addr ")
	resp, err := http.Get("http://" + addr + "/missing")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until the process closes stdout
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("service process under strace: %v", err)
	}

	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for l := range strings.SplitSeq(string(data), "\n") {
		if m := straceCall.FindStringSubmatch(l); m != nil {
			seen[m[1]] = true
		}
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct system calls traced; strace output unreadable?", len(seen))
	}
	var bad []string
	for s := range seen {
		if !allowed[s] || denied[s] {
			bad = append(bad, s)
		}
	}
	slices.Sort(bad)
	names := make([]string, 0, len(seen))
	for s := range seen {
		names = append(names, s)
	}
	slices.Sort(names)
	t.Logf("%d system calls traced: %s", len(names), strings.Join(names, " "))
	if len(bad) > 0 {
		t.Errorf("system calls the unit's filter denies (EPERM with SystemCallErrorNumber=EPERM): %v", bad)
	}
}
