package agent

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestD5ClientAuthentication(t *testing.T) {
	a := startAgent(t, func(o *Options) { o.FailureLimit = 1000 })
	grant := url.Values{"grant_type": {"client_credentials"}}
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"basic A", req{form: grant, user: idA, pass: secretA}, 200, ""},
		{"basic B", req{form: grant, user: idB, pass: secretB}, 200, ""},
		{"post A", req{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {idA},
			"client_secret": {secretA}}}, 200, ""},
		{"basic with matching client_id in body", req{form: url.Values{"grant_type": {"client_credentials"},
			"client_id": {idA}}, user: idA, pass: secretA}, 200, ""},
		{"missing", req{form: grant}, 401, "invalid_client"},
		{"wrong secret", req{form: grant, user: idA, pass: secretA + "x"}, 401, "invalid_client"},
		{"secret prefix", req{form: grant, user: idA, pass: secretA[:20]}, 401, "invalid_client"},
		{"empty secret", req{form: grant, user: idA, pass: ""}, 401, "invalid_client"},
		{"other client's secret", req{form: grant, user: idA, pass: secretB}, 401, "invalid_client"},
		{"unknown id with a valid secret", req{form: grant, user: "nobody", pass: secretA}, 401, "invalid_client"},
		{"post wrong", req{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {idA},
			"client_secret": {secretB}}}, 401, "invalid_client"},
		{"bearer scheme", req{form: grant, header: map[string]string{"Authorization": "Bearer " + secretA}},
			401, "invalid_client"},
		{"both methods", req{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {idA},
			"client_secret": {secretA}}, user: idA, pass: secretA}, 400, "invalid_request"},
		{"body client_id differs", req{form: url.Values{"grant_type": {"client_credentials"},
			"client_id": {idB}}, user: idA, pass: secretA}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := a.src.count()
			r := a.do(t, tc.r)
			if r.status != tc.status || r.str("error") != tc.code {
				t.Fatalf("got %v, want %d %s", r, tc.status, tc.code)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") != `Basic realm="systemuser-agent"` {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			if calls := a.src.count() - before; (tc.status == 200) != (calls == 1) {
				t.Errorf("token source called %d times", calls)
			}
		})
	}
}

// TestD5SecretNotComparable: the secret type holds a slice, so == on it does not compile.
func TestD5SecretNotComparable(t *testing.T) {
	if reflect.TypeFor[clientSecret]().Comparable() {
		t.Fatal("clientSecret is comparable; it must hold a slice so == does not compile")
	}
}

// TestD11SecretRedacted: every formatter prints [redacted].
func TestD11SecretRedacted(t *testing.T) {
	s := newClientSecret(secretA)
	var sb strings.Builder
	log := slog.New(slog.NewJSONHandler(&sb, nil))
	log.Info("x", "secret", s)
	j, _ := json.Marshal(map[string]any{"s": s})
	outs := []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s), sb.String(), string(j)}
	for _, o := range outs {
		if strings.Contains(o, "canary") || !strings.Contains(o, "[redacted]") {
			t.Errorf("secret formatted as %q", o)
		}
	}
}

// TestD7FailureThrottle: past the limit, failures for a client id get 429 with Retry-After; its right
// secret is still served, another client is untouched, and the window passing resets the count.
func TestD7FailureThrottle(t *testing.T) {
	const limit = 5
	a := startAgent(t, func(o *Options) { o.FailureLimit, o.FailureWindow = limit, time.Minute })
	for i := range limit {
		if r := a.tokenFor(t, idA, "wrong-"+strconv.Itoa(i), nil); r.status != 401 {
			t.Fatalf("try %d: got %v, want 401", i, r)
		}
	}
	// Further failures for A are throttled; A's right secret is not, nor is B.
	r := a.tokenFor(t, idA, "wrong-x", nil)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: got %v, want 429", limit, r)
	}
	if ra := r.header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After = %q, want 60", ra)
	}
	if r := a.tokenFor(t, idA, secretA, nil); r.status != 200 {
		t.Fatalf("the right secret after %d failures of others: got %v, want 200", limit, r)
	}
	if r := a.tokenFor(t, idB, secretB, nil); r.status != 200 {
		t.Fatalf("other client: got %v, want 200", r)
	}
	// Unknown ids are throttled by source, apart from known clients' secrets.
	for i := range limit {
		a.tokenFor(t, "ghost-"+strconv.Itoa(i), "x", nil)
	}
	if r := a.tokenFor(t, "ghost-x", "x", nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("unknown ids after more failures from this source: got %v, want 429", r)
	}
	if r := a.tokenFor(t, idB, secretB, nil); r.status != 200 {
		t.Fatalf("known client while unknown ids are throttled: got %v, want 200", r)
	}
	// The window passes on the agent's clock: A's next failure is a plain 401 again.
	a.clock.Advance(time.Minute)
	if r := a.tokenFor(t, idA, "wrong-y", nil); r.status != 401 {
		t.Fatalf("after the window: got %v, want 401", r)
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "client_id="+idA) || !strings.Contains(logs, "reason=\"wrong secret\"") ||
		!strings.Contains(logs, "client authentication failures throttled") {
		t.Errorf("logs do not name the client and reason:\n%s", logs)
	}
	if strings.Contains(logs, "wrong-0") || strings.Contains(logs, "ghost-") || strings.Contains(logs, secretA) {
		t.Error("logs contain a presented secret or an unknown client id")
	}
	if a.src.count() != 3 {
		t.Errorf("token source called %d times, want 3 (the successful requests)", a.src.count())
	}
}

// TestD7OwnerNotLockedOut is the drill of issue 15: another local process fails 100 times a second in
// the name of client A (client ids are not secret) while A asks with its right secret: A is always
// served; the failures get 401 then 429, are counted in the metrics, and the log stays short and clean.
func TestD7OwnerNotLockedOut(t *testing.T) {
	a := startAgent(t, nil) // the default limit and window
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var attempts, throttled atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond) // 100 a second
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			r := a.tokenFor(t, idA, "guess-"+strconv.Itoa(i), nil)
			attempts.Add(1)
			switch r.status {
			case http.StatusTooManyRequests:
				throttled.Add(1)
			case http.StatusUnauthorized:
			default:
				t.Errorf("a wrong secret got %v", r)
			}
		}
	})
	for i := range 20 {
		time.Sleep(100 * time.Millisecond)
		if r := a.tokenFor(t, idA, secretA, nil); r.status != http.StatusOK {
			close(stop)
			wg.Wait()
			t.Fatalf("owner request %d with the right secret after %d failures in its name: got %v, want 200",
				i, attempts.Load(), r)
		}
	}
	close(stop)
	wg.Wait()
	if n := attempts.Load(); n < 100 || throttled.Load() < n-int64(DefaultFailureLimit) {
		t.Errorf("%d failures, %d throttled: want ≥ 100 failures, all but the first %d throttled",
			n, throttled.Load(), DefaultFailureLimit)
	}
	if got := counterValue(t, a.reg, "systemuser_agent_auth_failures_total", "wrong_secret"); got != float64(attempts.Load()) {
		t.Errorf("metric auth_failures_total{reason=wrong_secret} = %v, want %d", got, attempts.Load())
	}
	logs := a.logs.String()
	lines := strings.Count(logs, "client authentication failed") + strings.Count(logs, "failures throttled")
	if lines == 0 || lines > DefaultFailureLimit+4 {
		t.Errorf("%d log lines for %d failures, want 1..%d (rate-limited)", lines, attempts.Load(), DefaultFailureLimit+4)
	}
	if strings.Contains(logs, "guess-") || strings.Contains(logs, secretA) {
		t.Error("logs contain a presented secret")
	}
}

// counterValue reads a counter with one label value from reg.
func counterValue(t testing.TB, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
