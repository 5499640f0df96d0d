package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// cmdStartup measures start-up to ready: from exec of "agent run" to the first 200 of GET /readyz,
// polled every 200 µs, over several runs. Each run is stopped with SIGTERM before the next.
func cmdStartup(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	bin := fs.String("bin", "", "the agent binary")
	config := fs.String("config", "", "its configuration (listening on the --ready URL's port)")
	stateDir := fs.String("state-dir", "", "its state directory")
	ready := fs.String("ready", "", "the agent's /readyz URL, http://127.0.0.1:PORT/readyz")
	runs := fs.Int("runs", 5, "runs")
	logFile := fs.String("log", os.DevNull, "file for the agent's stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := loopbackURL(*ready)
	if err != nil {
		return err
	}
	if *bin == "" || *config == "" || *stateDir == "" || *runs < 1 {
		return errors.New("--bin, --config, --state-dir and --ready are required")
	}
	logf, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	hc := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	var times latencies
	for range *runs {
		d, err := startOnce(ctx, hc, *bin, u, logf, "run", "--config", *config, "--state-dir", *stateDir)
		if err != nil {
			return err
		}
		times = append(times, d)
	}
	fmt.Fprintf(out, "start-up to ready (exec → GET /readyz 200, %d runs): min %s  median %s  max %s\n", *runs,
		ms(times.pct(0)), ms(times.pct(50)), ms(times.max()))
	fmt.Fprintf(out, "  start-up under 100 ms: %s\n", verdict(times.pct(50) < 100*time.Millisecond))
	return nil
}

// startOnce starts the agent, waits for ready (at most 10 s) and stops it.
func startOnce(ctx context.Context, hc *http.Client, bin, ready string, logf *os.File, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	for time.Since(start) < 10*time.Second {
		if resp, err := hc.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("%s did not become ready within 10 s; see its log", bin)
}
