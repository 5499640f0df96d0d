//go:build winelane

package packaging

// Stage 7 of TestWineEndToEnd (issue 14 on Windows): the key rotation a person does, through the real
// CLI, against the installed service that wine's service manager runs.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotate: `agent.exe keys rotate --json` (the next key is made inside the service, through the
// hand-over pipe), the new public JWK registered on the sandbox's client (its registration API stands in
// for Samarbeidsportalen, as for the first key), `keys upload --uploaded` (the confirmation of a manual
// upload), then `keys activate`, which reaches the installed service through setup.SignalReload (the
// reload message on the hand-over pipe). Activate must print that the service signs with the new kid;
// the service's process id (from the service manager, `service status --json`) is the same before and
// after; a caller polling the served endpoint every 50 ms through all of it sees no failed request; the
// sandbox rejects no grant; and the first token the agent fetches after the switch comes from a grant
// signed with the new kid (the drill API's last_grant names the kid and the jti of the token issued for
// it). What wine cannot prove: that the pipe's DACL refuses a caller that is not elevated (wine runs
// everything as one account): docs/windows-test-plan.md, step 23.
func (w *wineRun) rotate(sb, tokenURL, caller, secret string) {
	t := w.t
	start := time.Now()
	pid := w.servicePID()
	_, rejected := drillStats(t, sb)
	p := pollTokens(tokenURL, caller, secret, 50*time.Millisecond)
	defer p.finish()

	var rot struct {
		Active, Next struct {
			KID string          `json:"kid"`
			JWK json.RawMessage `json:"jwk"`
		}
	}
	out := w.ok("keys", "rotate", "--json", "--config", w.cfg)
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &rot) != nil || rot.Next.KID == "" || rot.Next.KID == rot.Active.KID {
		t.Fatalf("keys rotate --json printed:\n%s", out)
	}
	body, _ := json.Marshal(map[string]any{"client_id": "e2e-client", "org": wineOrg, "jwk": rot.Next.JWK, "scopes": []string{"altinn:demo/read"}})
	r, err := http.Post(sb+"/sandbox/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("registering the next key on the sandbox's client: %s %s", r.Status, reply)
	}
	w.ok("keys", "upload", "--uploaded", "--config", w.cfg, "--state-dir", w.state)
	out = w.ok("keys", "activate", "--config", w.cfg, "--state-dir", w.state)
	if want := "signs with kid " + rot.Next.KID + " now"; !strings.Contains(out, want) {
		t.Fatalf("keys activate does not say the running service switched (%q):\n%s", want, out)
	}
	switched := time.Now()

	// The token served at the switch may be the cached one (tokens stay valid); the next one the agent
	// fetches (the sandbox's tokens live 20 s: a refresh follows within about 10 s, checked below, after
	// the runbook's last steps) must be signed with the new kid.
	atSwitch := tokenJTI(t, servedToken(t, tokenURL, caller, secret))

	// The end of the runbook: the set to upload holds the new key and not the old one, its upload is
	// confirmed, and the old key is deleted (through the service); "agent service reload" (what activate
	// prints when it reaches no service) says the same kid; the service tracks the new key's expiry; all
	// while the caller polls.
	out = w.ok("keys", "upload", "--config", w.cfg, "--state-dir", w.state)
	if !strings.Contains(out, rot.Next.KID) || strings.Contains(out, rot.Active.KID) {
		t.Errorf("keys upload after the switch should print the set with the new kid %s and without the old %s:\n%s", rot.Next.KID, rot.Active.KID, out)
	}
	w.ok("keys", "upload", "--uploaded", "--config", w.cfg, "--state-dir", w.state)
	w.ok("keys", "delete", "--name", w.key+"-previous", "--yes", "--config", w.cfg)
	if list := w.ok("keys", "list", "--config", w.cfg); strings.Contains(list, rot.Active.KID) || !strings.Contains(list, rot.Next.KID) {
		t.Errorf("keys list after deleting the previous key:\n%s", list)
	}
	var rl struct{ KID string }
	if out := w.ok("service", "reload", "--json", "--config", w.cfg, "--state-dir", w.state); json.Unmarshal([]byte(out), &rl) != nil || rl.KID != rot.Next.KID {
		t.Errorf("service reload --json after the switch: %s; want kid %s", out, rot.Next.KID)
	}
	if left := expirySeconds(t, strings.TrimSuffix(tokenURL, "/oauth2/token")+"/metrics"); left < 360*86400 || left > 366*86400 {
		t.Errorf("after the switch the service says its signing key expires in %.0f s, want about one year (the confirmed upload)", left)
	}

	// The fresh token: served, and the sandbox's latest grant, whose kid is checked, is the one issued it.
	var last struct{ KID, TokenJTI string }
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		jti := tokenJTI(t, servedToken(t, tokenURL, caller, secret))
		st, _ := drillStats(t, sb)
		if st.LastGrant != nil {
			last.KID, last.TokenJTI = st.LastGrant.KID, st.LastGrant.TokenJTI
		}
		if jti != atSwitch && jti == last.TokenJTI {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fresh token within 60 s of the switch (served jti %s, at the switch %s; the sandbox's last grant %+v)", jti, atSwitch, last)
		}
	}
	if last.KID != rot.Next.KID {
		t.Errorf("the first fresh token after the switch came from a grant signed with kid %q, want the new kid %s (old %s)", last.KID, rot.Next.KID, rot.Active.KID)
	}
	fresh := time.Since(switched)
	p.finish()
	if after := w.servicePID(); after != pid {
		t.Errorf("the service's process id was %d before the switch and %d after: the key switch restarted it", pid, after)
	}
	if _, r := drillStats(t, sb); r != rejected {
		t.Errorf("the sandbox rejected %d grants during the rotation", r-rejected)
	}
	t.Logf("rotate + upload --uploaded + activate against the installed service %d in %s: the caller polled every 50 ms, %d answers, %d failed, longest gap %s; the first fresh grant %s after the switch",
		pid, time.Since(start).Round(100*time.Millisecond), p.ok, p.fail, p.maxGap.Round(time.Millisecond), fresh.Round(100*time.Millisecond))
	if p.fail > 0 || p.ok == 0 {
		t.Errorf("the caller saw %d failed requests (%d answered) during the switch, want none; first failures: %v", p.fail, p.ok, p.errs)
	}

	// The switch is durable: the restarted service reads the new key from its vault, and its first grant
	// (an empty cache) is signed with the new kid.
	w.ok("service", "restart", "--config", w.cfg)
	jti := tokenJTI(t, servedToken(t, tokenURL, caller, secret))
	if st, _ := drillStats(t, sb); st.LastGrant == nil || st.LastGrant.TokenJTI != jti || st.LastGrant.KID != rot.Next.KID {
		t.Errorf("after a restart the served token (jti %s) came from the grant %+v; want one signed with kid %s", jti, st.LastGrant, rot.Next.KID)
	}
}

// expirySeconds reads systemuser_agent_signing_key_expiry_seconds from the service's /metrics.
func expirySeconds(t *testing.T, metrics string) float64 {
	t.Helper()
	const name = "systemuser_agent_signing_key_expiry_seconds "
	for line := range strings.Lines(get(t, metrics)) {
		if v, ok := strings.CutPrefix(line, name); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s%s: %v", name, v, err)
			}
			return f
		}
	}
	t.Fatalf("%s shows no %s", metrics, name)
	return 0
}

// servicePID is the installed service's process id as `agent.exe service status --json` reports it (the
// service manager's, QueryServiceStatusEx); it fails the test when the service is not running or no id
// is known.
func (w *wineRun) servicePID() int {
	w.t.Helper()
	out := w.ok("service", "status", "--json", "--config", w.cfg, "--state-dir", w.state)
	var st struct {
		State string `json:"state"`
		PID   int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.State != "running" || st.PID <= 0 {
		w.t.Fatalf("service status --json: %v\n%s", err, out)
	}
	return st.PID
}

// sandboxStats is what the rotation reads from the sandbox's drill API.
type sandboxStats struct {
	GrantsRejected int64 `json:"grants_rejected"`
	LastGrant      *struct {
		KID      string `json:"kid"`
		TokenJTI string `json:"token_jti"`
	} `json:"last_grant"`
}

// drillStats reads the sandbox's drill API (agent.exe sandbox --admin) and returns it with the count of
// rejected grants.
func drillStats(t *testing.T, sb string) (sandboxStats, int64) {
	t.Helper()
	var st sandboxStats
	if err := json.Unmarshal([]byte(get(t, sb+"/sandbox/stats")), &st); err != nil {
		t.Fatalf("the sandbox's drill API: %v", err)
	}
	return st, st.GrantsRejected
}

// tokenJTI is a JWT's jti claim.
func tokenJTI(t *testing.T, jwt string) string {
	t.Helper()
	var c struct {
		JTI string `json:"jti"`
	}
	decodeClaims(t, jwt, &c)
	if c.JTI == "" {
		t.Fatalf("the served token has no jti")
	}
	return c.JTI
}

// poller is a caller asking the served endpoint for a token at a fixed interval until finish.
type poller struct {
	stop     chan struct{}
	done     sync.WaitGroup
	once     sync.Once
	ok, fail int
	errs     []string
	maxGap   time.Duration
}

// pollTokens starts a poller: one token request every interval, each with a 10 s timeout.
func pollTokens(tokenURL, caller, secret string, interval time.Duration) *poller {
	p := &poller{stop: make(chan struct{})}
	hc := &http.Client{Timeout: 10 * time.Second}
	p.done.Go(func() {
		lastOK := time.Now()
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(interval):
			}
			if _, err := askToken(hc, tokenURL, caller, secret); err != nil {
				p.fail++
				if len(p.errs) < 3 {
					p.errs = append(p.errs, err.Error())
				}
				continue
			}
			p.ok++
			p.maxGap = max(p.maxGap, time.Since(lastOK))
			lastOK = time.Now()
		}
	})
	return p
}

// finish stops the poller and waits for it; its counters are final afterwards.
func (p *poller) finish() {
	p.once.Do(func() { close(p.stop); p.done.Wait() })
}

// servedToken gets a token from the agent's endpoint as caller id, retrying for up to a minute while a
// restarted service comes up.
func servedToken(t *testing.T, tokenURL, id, secret string) string {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var tok string
		if tok, err = askToken(http.DefaultClient, tokenURL, id, secret); err == nil {
			return tok
		}
	}
	t.Fatalf("no token from %s: %v", tokenURL, err)
	return ""
}

// askToken makes one token request as caller (client_secret_basic) and returns the token, or says why
// there was none.
func askToken(hc *http.Client, tokenURL, caller, secret string) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(caller, secret)
	r, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK || json.Unmarshal(raw, &body) != nil || body.AccessToken == "" {
		return "", fmt.Errorf("%s %s", r.Status, raw)
	}
	return body.AccessToken, nil
}
