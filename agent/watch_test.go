package agent

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

const day = 24 * time.Hour

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestKeyExpiryWarnings: on the agent's clock, the recorded key expiry gives one log warning when 30
// days are left and one when 7 are left (not one per check), a /readyz warning while still ready, the
// seconds left as a metric, and not ready with the fix once expired.
func TestKeyExpiryWarnings(t *testing.T) {
	a := startAgent(t, nil)
	ctx := context.Background()
	metric := "systemuser_agent_signing_key_expiry_seconds"
	if v := gauge(t, a.reg, metric); !math.IsNaN(v) {
		t.Fatalf("unknown expiry gives %v, want NaN", v)
	}
	a.srv.SetKeyExpiry("kid-1", a.clock.Now().Add(40*day))
	warnings := func() int { return strings.Count(a.logs.String(), "the Maskinporten signing key expires soon") }
	ready := func() reply { return a.do(t, req{method: "GET", path: "/readyz"}) }
	if r := ready(); r.status != 200 || r.body["warnings"] != nil || warnings() != 0 {
		t.Fatalf("40 days left: %s, %d warnings", r.raw, warnings())
	}
	if v := gauge(t, a.reg, metric); v != (40 * day).Seconds() {
		t.Fatalf("metric = %v, want %v", v, (40 * day).Seconds())
	}
	steps := []struct {
		advance  time.Duration
		warnings int
		daysLeft string
	}{
		{10*day + time.Hour, 1, "days_left=29"}, // 29 days 23 h left: crossed 30
		{day, 1, ""},                            // no second warning at 28 days
		{21 * day, 1, ""},                       // 7 days 23 h: not yet
		{2 * day, 2, "days_left=5"},             // crossed 7
		{day, 2, ""},
	}
	for i, st := range steps {
		a.clock.Advance(st.advance)
		a.srv.Watch(ctx)
		a.srv.Watch(ctx)
		if n := warnings(); n != st.warnings {
			t.Fatalf("step %d: %d warnings, want %d\n%s", i, n, st.warnings, a.logs.String())
		}
		if st.daysLeft != "" && !strings.Contains(a.logs.String(), st.daysLeft) {
			t.Fatalf("step %d: log lacks %s", i, st.daysLeft)
		}
		r := ready()
		ws, _ := r.body["warnings"].([]any)
		if r.status != 200 || len(ws) != 1 || !strings.Contains(ws[0].(string), "rotate") {
			t.Fatalf("step %d: /readyz %s", i, r.raw)
		}
	}
	if v := gauge(t, a.reg, metric); v != (5*day - time.Hour).Seconds() {
		t.Fatalf("metric = %v", v)
	}
	a.clock.Advance(5 * day)
	a.srv.Watch(ctx)
	a.srv.Watch(ctx)
	if n := strings.Count(a.logs.String(), "the Maskinporten signing key has expired"); n != 1 {
		t.Fatalf("%d expiry errors logged, want 1", n)
	}
	if r := ready(); r.status != 503 || !strings.Contains(r.str("reason"), "MP-121") {
		t.Fatalf("expired: /readyz %s", r.raw)
	}
	if v := gauge(t, a.reg, metric); v >= 0 {
		t.Fatalf("metric after expiry = %v, want negative", v)
	}
	// A renewed key (rotation, upload) clears it.
	a.srv.SetKeyExpiry("kid-2", a.clock.Now().Add(365*day))
	if r := ready(); r.status != 200 || r.body["warnings"] != nil {
		t.Fatalf("after rotation: %s", r.raw)
	}
}

// TestDeletedSystemUserAgainstSandbox: the real token client and cache against the sandbox; the owner
// deletes the system user in Altinn; once the cached token has expired the watcher's probe gets MP-303:
// /readyz is 503 naming the system user and the fix, the log says it once however many callers fail,
// and the metric counts it. A new system user makes it ready again.
func TestDeletedSystemUserAgainstSandbox(t *testing.T) {
	clock := newFakeClock()
	clock.t = time.Now().UTC() // the sandbox checks grant iat against its clock: share one
	sb := sandbox.New(sandbox.Options{Now: clock.Now})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sb.RegisterClient(sandbox.Client{ID: "svc", Org: testOrg, Scopes: []string{"test:a1", "test:a2", "test:b1", "test:b2"},
		Keys: []sandbox.ClientKey{{KID: "k1", Public: &key.PublicKey}}}))
	must(sb.SeedSystem(sandbox.SystemSeed{ID: testOrg + "_agent", ClientIDs: []string{"svc"}, Rights: []string{sandbox.ResourceExample}}))
	suID, err := sb.SeedSystemUser(testOrg+"_agent", testOrg, "")
	must(err)
	_, err = sb.SeedSystemUser(testOrg+"_agent", testOrg, "ext-2")
	must(err)
	client, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
		AltinnURL: sb.AltinnURL(), ClientID: "svc", KeyID: "k1", Signer: key, Now: clock.Now,
		Retry: tokens.RetryPolicy{WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond}})
	must(err)
	cache := tokens.NewCache(client, tokens.CacheOptions{Now: clock.Now})
	a := startAgent(t, func(o *Options) { o.Tokens, o.Now = cache, clock.Now })
	a.clock = clock
	ctx := context.Background()
	if r := a.tokenFor(t, idA, secretA, nil); r.status != 200 {
		t.Fatalf("before deletion: %v", r)
	}
	a.srv.Watch(ctx)
	if r := a.do(t, req{method: "GET", path: "/readyz"}); r.status != 200 {
		t.Fatalf("before deletion: /readyz %s", r.raw)
	}
	must(sb.DeleteSystemUser(suID))
	clock.Advance(3 * time.Minute) // the cached token (120 s) has expired
	a.srv.Watch(ctx)
	for range 5 {
		if r := a.tokenFor(t, idA, secretA, nil); r.status == 200 {
			t.Fatal("a token for a deleted system user")
		}
	}
	r := a.do(t, req{method: "GET", path: "/readyz"})
	if r.status != 503 || !strings.Contains(r.str("reason"), `system user "default"`) || !strings.Contains(r.str("reason"), "MP-303") ||
		!strings.Contains(r.str("reason"), "agent setup --new-request") || strings.Contains(r.str("reason"), `"second"`) {
		t.Fatalf("/readyz after deletion: %s", r.raw)
	}
	if n := strings.Count(a.logs.String(), "a system user stopped working"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, a.logs.String())
	}
	if v := gauge(t, a.reg, "systemuser_agent_system_users_failing"); v != 1 {
		t.Fatalf("failing gauge = %v", v)
	}
	// A new request, approved: the system user exists again (new id) and readiness returns.
	_, err = sb.SeedSystemUser(testOrg+"_agent", testOrg, "")
	must(err)
	clock.Advance(time.Minute) // past the short negative cache of MP-303
	a.srv.Watch(ctx)
	if r := a.do(t, req{method: "GET", path: "/readyz"}); r.status != 200 {
		t.Fatalf("after a new system user: /readyz %s", r.raw)
	}
	if !strings.Contains(a.logs.String(), "the system user works again") {
		t.Fatal("recovery not logged")
	}
}
