package perf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// BenchmarkWrk drives the in-process agent, the bare handler and the bare handler with the agent's
// server timeouts and security headers ("bare-hardened") with wrk (another process: 2 threads, 50
// connections, 5 s, scripts/bench-token.lua) and reports wrk's req/s. The load generator lives
// outside this process, so "go test -run '^$' -bench Wrk/agent -cpuprofile cpu.out ./perf" profiles the
// serving side alone: that is the profile docs/performance.md discusses.
func BenchmarkWrk(b *testing.B) {
	wrk := realdeps.Tool(b, "wrk", "apt-get install -y wrk")
	r := newRig(b, rigOptions{})
	warm := r.token(context.Background(), alpha)
	if err := checkValid(warm, time.Now()); err != nil {
		b.Fatal(err)
	}
	secretFile := filepath.Join(b.TempDir(), "alpha.secret")
	must(b, os.WriteFile(secretFile, []byte(r.secrets[alpha]), 0o600))
	lua, err := filepath.Abs("../scripts/bench-token.lua")
	must(b, err)
	rps := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	total := regexp.MustCompile(`([0-9]+) requests in`)
	for _, tc := range []struct{ name, url string }{{"agent", r.base}, {"bare", serveBare(b, len(warm.token), false, false)},
		{"bare-hardened", serveBare(b, len(warm.token), true, false)},
		{"bare-hardened-reading", serveBare(b, len(warm.token), true, true)}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				cpu0 := processCPU()
				out, err := exec.Command(wrk, "-t2", "-c50", "-d5s", "-s", lua, tc.url+"/oauth2/token", "--",
					alpha, secretFile).CombinedOutput()
				if err != nil {
					b.Fatalf("wrk: %v\n%s", err, out)
				}
				if regexp.MustCompile(`Non-2xx`).Match(out) {
					b.Fatalf("wrk saw error replies:\n%s", out)
				}
				m := rps.FindSubmatch(out)
				if m == nil {
					b.Fatalf("no Requests/sec in wrk's output:\n%s", out)
				}
				runtime.ReadMemStats(&after)
				v, _ := strconv.ParseFloat(string(m[1]), 64)
				b.ReportMetric(v, "req/s")
				// The load generator is another process: what this one allocated is the serving side's.
				if n := total.FindSubmatch(out); n != nil {
					reqs, _ := strconv.ParseFloat(string(n[1]), 64)
					b.ReportMetric(float64(after.Mallocs-before.Mallocs)/reqs, "server-allocs/req")
					b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/reqs, "server-B/req")
					b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/reqs, "server-cpu-µs/req")
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
