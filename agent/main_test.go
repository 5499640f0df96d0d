package agent

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
)

// TestMain is the D11 secret canary: every logger the tests build writes into suiteLog, and stdout and
// stderr are teed too. After the whole suite (debug level included) it fails if any caller secret or
// any token the fake source handed out appears there, raw or in a base64/base64url/Basic/URL form.
func TestMain(m *testing.M) {
	canaries.add("secret of "+idA, secretA, idA)
	canaries.add("secret of "+idB, secretB, idB)
	tee := teeStdio()
	code := m.Run()
	out := tee.stop()
	if leaked := checkCanaries(out); code == 0 {
		code = leaked
	}
	os.Exit(code)
}

func checkCanaries(stdio []byte) int {
	leaks := append(suiteLog.leaks(), canaries.findIn(stdio)...)
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "D11 FAILED: secrets leaked into logs or output: %s\n", strings.Join(leaks, ", "))
		return 1
	}
	return 0
}

// suiteLog receives the output of every test logger and scans each record for canaries as it is
// written (slog writes one record per Write), so fuzzing and benchmarks do not pile up logs in memory.
var suiteLog = &canaryScanner{}

type canaryScanner struct {
	mu    sync.Mutex
	found map[string]bool
}

func (s *canaryScanner) Write(p []byte) (int, error) {
	leaks := canaries.findIn(p)
	if len(leaks) > 0 {
		s.mu.Lock()
		if s.found == nil {
			s.found = map[string]bool{}
		}
		for _, l := range leaks {
			s.found[l] = true
		}
		s.mu.Unlock()
	}
	return len(p), nil
}

func (s *canaryScanner) leaks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for l := range s.found {
		out = append(out, l)
	}
	return out
}

// newTestLogger logs at debug into suiteLog and the returned buffer.
func newTestLogger() (*slog.Logger, *testlog.Buffer) {
	own := &testlog.Buffer{}
	return newLoggerTo(io.MultiWriter(suiteLog, own)), own
}

// newLoggerTo logs at debug into w.
func newLoggerTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// canarySet holds named secret values that must never be printed.
type canarySet struct {
	mu sync.Mutex
	m  map[string]string // form → name
}

var canaries = &canarySet{m: map[string]string{}}

// add registers a secret under name with its encoded forms; basicID, if set, adds the Basic header form.
func (c *canarySet) add(name, v, basicID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	forms := []string{v, url.QueryEscape(v)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding,
		base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(v)))
		if basicID != "" {
			forms = append(forms, enc.EncodeToString([]byte(basicID+":"+v)))
		}
	}
	for _, f := range forms {
		c.m[f] = name
	}
}

func (c *canarySet) findIn(outputs ...[]byte) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	for f, name := range c.m {
		for _, o := range outputs {
			if bytes.Contains(o, []byte(f)) {
				seen[name] = true
			}
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// stdioTee copies os.Stdout and os.Stderr through pipes into a buffer.
type stdioTee struct {
	buf  testlog.Buffer
	outs [2]*os.File // the originals
	ws   [2]*os.File
	wg   sync.WaitGroup
}

func teeStdio() *stdioTee {
	t := &stdioTee{outs: [2]*os.File{os.Stdout, os.Stderr}}
	for i, orig := range t.outs {
		r, w, err := os.Pipe()
		if err != nil {
			return t
		}
		t.ws[i] = w
		t.wg.Go(func() { _, _ = io.Copy(io.MultiWriter(orig, &t.buf), r) })
	}
	os.Stdout, os.Stderr = t.ws[0], t.ws[1]
	return t
}

func (t *stdioTee) stop() []byte {
	os.Stdout, os.Stderr = t.outs[0], t.outs[1]
	for _, w := range t.ws {
		if w != nil {
			_ = w.Close()
		}
	}
	t.wg.Wait()
	return t.buf.Bytes()
}

// TestD11CanaryDetects proves the canary check can fail: a registered secret written to the suite
// log is found in every encoded form.
func TestD11CanaryDetects(t *testing.T) {
	set := &canarySet{m: map[string]string{}}
	set.add("probe", "probe-secret-value", "probe-id")
	for _, form := range []string{"probe-secret-value",
		base64.StdEncoding.EncodeToString([]byte("probe-id:probe-secret-value")),
		base64.RawURLEncoding.EncodeToString([]byte("probe-secret-value"))} {
		if got := set.findIn([]byte("x " + form + " y")); len(got) != 1 {
			t.Errorf("canary form %d chars not detected", len(form))
		}
	}
	if got := set.findIn([]byte("nothing here")); len(got) != 0 {
		t.Errorf("false positive: %v", got)
	}
	// The suite scanner reports a registered secret written through a test logger.
	scanner := &canaryScanner{}
	canaries.add("probe-of-scanner", "scanner-probe-value", "")
	newLoggerTo(scanner).Debug("leak", "v", "scanner-probe-value")
	if got := scanner.leaks(); len(got) != 1 {
		t.Errorf("scanner found %v", got)
	}
}
