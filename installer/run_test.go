//go:build !windows

package installer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a service process (see TestMain) instead of running tests.
const helperEnv = "INSTALLER_TEST_SERVICE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(serviceHelper(mode))
	}
	os.Exit(m.Run())
}

// serviceHelper is the service process: RunService around a Runner that serves HTTP on 127.0.0.1:0
// ("serve"), or one that fails at once as a port clash would ("fail"). It reports on stdout.
func serviceHelper(mode string) int {
	fmt.Println("pid", os.Getpid())
	run := func(ctx context.Context) error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		shuttingDown := make(chan struct{})
		srv.RegisterOnShutdown(func() { close(shuttingDown) })
		mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
			fmt.Println("inflight")
			<-shuttingDown // the graceful shutdown has begun; this request must still complete
			io.WriteString(w, "finished after stop")
		})
		go srv.Serve(ln)
		fmt.Println("addr", ln.Addr())
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
	if mode == "fail" {
		run = func(context.Context) error { return errors.New("listen 127.0.0.1:7070: address already in use") }
	}
	if err := RunService(context.Background(), Options{Name: "systemuser-agent-test"}, run); err != nil {
		fmt.Fprintln(os.Stderr, "service failed:", err)
		return 1
	}
	return 0
}

// startHelper runs the test binary as a service process and returns its stdout lines.
func startHelper(t *testing.T, mode string) (*exec.Cmd, <-chan string, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	lines := startLines(t, cmd)
	return cmd, lines, stderr
}

// deadline is a context that ends shortly before the test binary's -timeout, so a stuck service
// process fails the test with a message instead of a panic.
func deadline(t *testing.T) context.Context {
	d, ok := t.Deadline()
	if !ok {
		return t.Context()
	}
	ctx, cancel := context.WithDeadline(t.Context(), d.Add(-5*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// next waits for the next stdout line starting with prefix, failing the test (never hanging) when the
// process ends or the test's deadline nears.
func next(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	ctx := deadline(t)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("service process ended before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("waiting for %q: %v", prefix, ctx.Err())
		}
	}
}

// TestRunServiceSIGTERMWithRequestInFlight: the service starts and serves; SIGTERM (systemd's stop)
// arrives while a request is being served; the request completes, and the process exits 0.
func TestRunServiceSIGTERMWithRequestInFlight(t *testing.T) {
	cmd, lines, stderr := startHelper(t, "serve")
	addr := strings.TrimPrefix(next(t, lines, "addr "), "addr ")

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b), err}
	}()
	next(t, lines, "inflight")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-got:
	case <-deadline(t).Done():
		t.Fatal("the in-flight request never completed")
	}
	if r.err != nil || r.status != http.StatusOK || r.body != "finished after stop" {
		t.Errorf("in-flight request: %d %q %v, want 200 \"finished after stop\"", r.status, r.body, r.err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("service process exit: %v (want 0)\nstderr: %s", err, stderr)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the port still accepts connections after the service exited")
	}
}

// TestRunServiceRunnerFails: a Runner that fails on its own ends RunService with its error (exit 1, so
// Restart=on-failure restarts it) instead of waiting for a signal that never comes.
func TestRunServiceRunnerFails(t *testing.T) {
	cmd, lines, stderr := startHelper(t, "fail")
	for range lines { // drain stdout until the process closes it
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want exit status 1", err)
	}
	if !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("stderr %q does not carry the runner's error", stderr)
	}
}

// startLines starts cmd (killed when the test ends) and returns its stdout, line by line.
func startLines(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}
