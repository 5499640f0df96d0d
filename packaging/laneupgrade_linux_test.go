package packaging

// The later stages of the lane: upgrade while a caller polls, the journal, remove and purge.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// poller asks for a token every interval until stopped, and records what it saw.
type poller struct {
	mu       sync.Mutex
	ok, fail int
	lastOK   time.Time
	maxGap   time.Duration
	expired  []string
	tokens   []string
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func (l *lane) startPoller(interval time.Duration) *poller {
	p := &poller{lastOK: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			r, err := l.token()
			now := time.Now()
			p.mu.Lock()
			if err != nil {
				p.fail++
			} else {
				p.ok++
				if gap := now.Sub(p.lastOK); gap > p.maxGap {
					p.maxGap = gap
				}
				p.lastOK = now
				p.tokens = append(p.tokens, r.AccessToken)
				if exp := jwtExp(r.AccessToken); r.ExpiresIn <= 0 || exp.IsZero() || !exp.After(now) {
					p.expired = append(p.expired, fmt.Sprintf("expires_in %d, exp %s at %s", r.ExpiresIn, exp, now))
				}
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// finish stops the poller and waits for it; later calls do nothing.
func (p *poller) finish() { p.once.Do(func() { close(p.stop); <-p.done }) }

// jwtExp is a JWT's exp claim (not verified: the lane only checks the agent never serves a stale token).
func jwtExp(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}

// stageUpgrade: dpkg -i of the second build while a caller polls: the service restarts exactly once onto
// the new binary, the caller sees at most a short gap and never an expired token, and the state file
// survives (its version is the one the new agent reads; no migration is due between these builds).
func stageUpgrade(t *testing.T, l *lane) {
	l.waitToken(t, 30*time.Second)
	before := l.show(t)
	starts := l.countJournal(t, `msg="serving tokens"`)
	var err error
	l.stateBefore, err = os.ReadFile(l.inContainer("/var/lib/systemuser-agent/state.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := l.startPoller(50 * time.Millisecond)
	time.Sleep(time.Second)
	out, derr := l.run(t, "dpkg", "-i", l.deb2)
	l.waitToken(t, 30*time.Second)
	time.Sleep(2 * time.Second)
	p.finish()
	l.tokens = append(l.tokens, p.tokens...)
	if derr != nil {
		t.Fatalf("dpkg -i %s: %v\n%s", l.deb2, derr, out)
	}
	after := l.show(t)
	if after["InvocationID"] == before["InvocationID"] || after["ActiveState"] != "active" {
		t.Errorf("the upgrade did not restart the service: before %v, after %v", before, after)
	}
	if n := l.countJournal(t, `msg="serving tokens"`) - starts; n != 1 {
		t.Errorf("the service started %d times during the upgrade, want exactly 1", n)
	}
	var v struct{ Version string }
	if err := json.Unmarshal([]byte(l.out(t, cBinary, "version", "--json")), &v); err != nil || v.Version != l.v2 {
		t.Errorf("after the upgrade the binary says version %q (%v), want %s", v.Version, err, l.v2)
	}
	t.Logf("upgrade %s -> %s while polling every 50 ms: %d answers, %d failed, longest gap between tokens %s",
		l.v1, l.v2, p.ok, p.fail, p.maxGap.Round(time.Millisecond))
	if p.ok == 0 || p.maxGap > 15*time.Second {
		t.Errorf("the caller's longest gap was %s (%d answers); want a short one", p.maxGap, p.ok)
	}
	if len(p.expired) > 0 {
		t.Errorf("the caller got expired tokens: %v", p.expired)
	}
	if st := l.readState(t); st.Version != config.StateVersion {
		t.Errorf("state version after the upgrade %d, want %d", st.Version, config.StateVersion)
	}
	if now, _ := os.ReadFile(l.inContainer("/var/lib/systemuser-agent/state.json")); string(now) != string(l.stateBefore) {
		t.Errorf("the upgrade changed the state file:\nbefore %s\nafter  %s", l.stateBefore, now)
	}
}

// stageJournal: the journal has the start line and no secret: no token (no JWT at all), no caller
// secret, no private key.
func stageJournal(t *testing.T, l *lane) {
	j := l.out(t, "journalctl", "--no-pager", "-o", "cat", "-u", cUnit)
	if !strings.Contains(j, `msg="serving tokens"`) || !strings.Contains(j, fmt.Sprintf("listen=127.0.0.1:%d", l.listenPort)) {
		t.Errorf("the journal lacks the start line:\n%s", j)
	}
	if len(l.tokens) == 0 {
		t.Fatal("the lane saw no tokens to look for")
	}
	for _, s := range append([]string{l.secret, "eyJ", "PRIVATE KEY"}, l.tokens...) {
		if strings.Contains(j, s) {
			t.Errorf("the journal holds a secret (%.12s...)", s)
		}
	}
}

// stageRemove: apt-get remove stops the service and removes the binary and unit, and keeps config,
// state and key.
func stageRemove(t *testing.T, l *lane) {
	l.out(t, "apt-get", "remove", "-y", "systemuser-agent")
	for _, gone := range []string{cBinary, "/usr/lib/systemd/system/" + cUnit} {
		if exists(l.inContainer(gone)) {
			t.Errorf("%s is still there after remove", gone)
		}
	}
	for _, kept := range []string{cConfig, cState, cCred} {
		if !exists(l.inContainer(kept)) {
			t.Errorf("remove deleted %s", kept)
		}
	}
	if _, err := l.token(); err == nil {
		t.Error("the service still serves after remove")
	}
	if out, _ := l.run(t, "systemctl", "is-active", cUnit); strings.TrimSpace(out) == "active" {
		t.Error("the service is active after remove")
	}
}

// stagePurge: apt-get purge deletes config and state, and keeps the key (saying so).
func stagePurge(t *testing.T, l *lane) {
	out := l.out(t, "apt-get", "purge", "-y", "systemuser-agent")
	for _, gone := range []string{"/etc/systemuser-agent", "/var/lib/systemuser-agent", "/var/lib/private/systemuser-agent"} {
		if exists(l.inContainer(gone)) {
			t.Errorf("%s is still there after purge", gone)
		}
	}
	if !exists(l.inContainer(cCred)) {
		t.Errorf("purge deleted the key %s", cCred)
	}
	if !strings.Contains(out, "purge keeps the key "+cCred) {
		t.Errorf("purge did not say it kept the key:\n%s", out)
	}
	if st, _ := l.run(t, "dpkg-query", "-W", "-f=${Status}", "systemuser-agent"); strings.Contains(st, "installed") && !strings.Contains(st, "not-installed") {
		t.Errorf("dpkg still lists the package: %s", st)
	}
}
