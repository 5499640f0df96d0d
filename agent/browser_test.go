package agent

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// seenRequest is what reached the agent in the browser test.
type seenRequest struct {
	attempt, method string
	status          int
	markers         bool // Origin, Referer or Sec-Fetch-Site present
}

// recorder wraps the agent's handler and notes each request's ?attempt= label and answer.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	seen []seenRequest
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	rc.h.ServeHTTP(sw, r)
	_, o := r.Header["Origin"]
	_, ref := r.Header["Referer"]
	_, sfs := r.Header["Sec-Fetch-Site"]
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen = append(rc.seen, seenRequest{attempt: r.URL.Query().Get("attempt"), method: r.Method,
		status: sw.status, markers: o || ref || sfs})
}

func (rc *recorder) byAttempt() map[string][]seenRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	m := map[string][]seenRequest{}
	for _, s := range rc.seen {
		m[s.attempt] = append(m[s.attempt], s)
	}
	return m
}

// TestD2D3BrowserAttacks runs headless Chromium against the agent (D2, D3, D16): a page from another
// loopback origin tries fetch (with and without credentials, no-cors), XHR, a form POST into an iframe,
// <img> and <script>; a page on a rebound name (rebind.example mapped to 127.0.0.1, the agent's port)
// fetches every route same-origin. Each request reaches the agent and is refused with 403, the pages
// read nothing, and the token source is never called. Chromium's own Local Network Access checks are
// switched off: the test models a user who clicked "allow".
func TestD2D3BrowserAttacks(t *testing.T) {
	chromium := realdeps.Tool(t, "chromium", "apt-get install -y chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The agent: the real handler and server limits on a real loopback listener, wrapped to record.
	ln, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := testConfig()
	cfg.Listen = ln.Addr().String()
	src := &fakeSource{clock: newFakeClock()}
	log, _ := newTestLogger()
	srv, err := New(Options{Config: cfg, Tokens: src, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{h: srv.Handler()}
	agentHTTP := srv.httpServer(rec)
	go func() { _ = agentHTTP.Serve(ln) }()
	defer agentHTTP.Close()
	agentURL := "http://127.0.0.1:" + strconv.Itoa(port)

	// The attacker's origin: another loopback address.
	aln, err := net.Listen("tcp4", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not usable here: %v", err)
	}
	attacker := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(crossOriginPage(agentURL)))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = attacker.Serve(aln) }()
	defer attacker.Close()

	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,"+
			"LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights"),
		chromedp.Flag("host-resolver-rules", "MAP rebind.example 127.0.0.1"),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("starting Chromium: %v", err)
	}

	t.Run("cross-origin page", func(t *testing.T) {
		results := runPage(t, bctx, "http://"+aln.Addr().String()+"/attack.html", nil)
		want := map[string]string{
			"fetch-basic": "error", "fetch-credentials": "error", "fetch-no-cors": "type=opaque status=0 body=",
			"fetch-get": "error", "xhr-basic": "error", "xhr-post-secret": "error", "img": "error",
			"script": "error", "form-iframe": "unreadable",
		}
		checkPage(t, results, want)
		seen := rec.byAttempt()
		for name := range want {
			if name == "form-iframe" {
				name = "form"
			}
			checkRefused(t, seen, name)
		}
	})

	t.Run("DNS rebinding", func(t *testing.T) {
		rebind := "http://rebind.example:" + strconv.Itoa(port)
		var fulfilled func() bool
		results := runPage(t, bctx, rebind+"/attack.html", func(tab context.Context) {
			fulfilled = interceptPage(t, tab, rebind+"/attack.html", rebindPage(rebind))
		})
		if !fulfilled() {
			t.Fatal("the rebound page was not served by interception")
		}
		want := map[string]string{}
		for _, r := range rebindRoutes {
			want[r.name] = "type=basic status=403"
		}
		checkPage(t, results, want)
		seen := rec.byAttempt()
		onlyHost := false
		for _, r := range rebindRoutes {
			checkRefused(t, seen, r.name)
			for _, s := range seen[r.name] {
				onlyHost = onlyHost || !s.markers
			}
		}
		if !onlyHost {
			t.Error("every rebound request carried a browser marker; expected GETs with only Host (D2 alone)")
		}
	})
	if n := src.count(); n != 0 {
		t.Fatalf("the token source was called %d times by browser requests", n)
	}
}

// runPage opens url in a new tab (prepare, if set, runs on the tab first) and returns what the page's
// attack promise resolved to.
func runPage(t *testing.T, browser context.Context, url string, prepare func(tab context.Context)) map[string]string {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	defer cancel()
	if prepare != nil {
		prepare(tab)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigating to %s: %v", url, err)
	}
	wctx, wcancel := context.WithTimeout(tab, 60*time.Second)
	defer wcancel()
	res, err := chromedp.Run(wctx, chromedp.Evaluate[map[string]string]("window.attack", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("waiting for the page: %v", err)
	}
	return res
}

// checkPage: each attempt saw its expected prefix and nothing secret.
func checkPage(t *testing.T, results, want map[string]string) {
	t.Helper()
	t.Logf("the page saw: %q", results)
	for name, prefix := range want {
		got, ok := results[name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		if strings.Contains(got, "eyJcanary") || strings.Contains(got, "access_token") ||
			strings.Contains(got, "systemuser_agent_") || strings.Contains(got, `"ok"`) {
			t.Errorf("%s: the page read a response body", name)
		}
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("%s: page saw %q, want %q…", name, got, prefix)
		}
	}
}

// checkRefused: the attempt reached the agent and every request of it got 403.
func checkRefused(t *testing.T, seen map[string][]seenRequest, attempt string) {
	t.Helper()
	if len(seen[attempt]) == 0 {
		t.Errorf("%s: never reached the agent", attempt)
	}
	for _, s := range seen[attempt] {
		if s.status != http.StatusForbidden {
			t.Errorf("%s: %s answered %d, want 403", attempt, s.method, s.status)
		}
	}
}

// interceptPage serves html for pageURL from inside the browser (Fetch.fulfillRequest), so the page has
// the rebound origin while its requests go to the agent. It reports whether it served the page.
func interceptPage(t *testing.T, ctx context.Context, pageURL, html string) func() bool {
	t.Helper()
	events := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: "*attack.html*"}}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	served := false
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if ev.Request.URL != pageURL {
				_, _ = chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID,
					ErrorReason: "Failed"})
				continue
			}
			_, _ = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID,
				ResponseCode: 200, Body: []byte(html),
				ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html"}}})
			mu.Lock()
			served = true
			mu.Unlock()
		}
	}()
	return func() bool { mu.Lock(); defer mu.Unlock(); return served }
}

var rebindRoutes = []struct{ name, method, path string }{
	{"get-healthz", "GET", "/healthz"}, {"get-readyz", "GET", "/readyz"}, {"get-metrics", "GET", "/metrics"},
	{"get-token", "GET", "/oauth2/token"}, {"post-token", "POST", "/oauth2/token"},
	{"post-introspect", "POST", "/oauth2/introspect"},
}

const pageHelpers = `
const results = {};
async function tryFetch(name, url, init) {
  try {
    const r = await fetch(url, init); let body = '';
    try { body = await r.text(); } catch (e) {}
    results[name] = 'type=' + r.type + ' status=' + r.status + ' body=' + body;
  } catch (e) { results[name] = 'error=' + e.name; }
}
`

// crossOriginPage is served from 127.0.0.2 and attacks the agent at agent.
func crossOriginPage(agent string) string {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {idA}, "client_secret": {secretA}}.Encode()
	r := strings.NewReplacer("AGENT", agent, "BASIC", basicHeader(idA, secretA), "FORM", form, "SECRET", secretA,
		"HELPERS", pageHelpers)
	return r.Replace(`<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" action="AGENT/oauth2/token?attempt=form" target="sink">
<input name="grant_type" value="client_credentials"><input name="client_id" value="sap">
<input name="client_secret" value="SECRET"></form>
<script>
HELPERS
function tryXHR(name, url, authz, body) {
  return new Promise(res => {
    const x = new XMLHttpRequest(); x.open('POST', url);
    if (authz) x.setRequestHeader('Authorization', authz);
    x.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');
    x.onload = () => { results[name] = 'status=' + x.status + ' body=' + x.responseText; res(); };
    x.onerror = () => { results[name] = 'error'; res(); };
    x.send(body);
  });
}
function tryTag(name, tag, url) {
  return new Promise(res => {
    const el = document.createElement(tag);
    el.onload = () => { results[name] = 'loaded'; res(); };
    el.onerror = () => { results[name] = 'error'; res(); };
    el.src = url; document.body.appendChild(el);
  });
}
function tryForm() {
  return new Promise(res => {
    const fr = document.getElementById('sink');
    const done = v => { if (!results['form-iframe']) { results['form-iframe'] = v; res(); } };
    fr.onload = () => { try { done('read:' + fr.contentDocument.body.innerText); } catch (e) { done('unreadable:' + e.name); } };
    setTimeout(() => done('unreadable:timeout'), 10000);
    document.getElementById('f').submit();
  });
}
window.attack = (async () => {
  const u = a => 'AGENT/oauth2/token?attempt=' + a;
  await tryFetch('fetch-basic', u('fetch-basic'), {method: 'POST', headers: {'Authorization': 'BASIC',
    'Content-Type': 'application/x-www-form-urlencoded'}, body: 'grant_type=client_credentials'});
  await tryFetch('fetch-credentials', u('fetch-credentials'), {method: 'POST', credentials: 'include',
    body: new URLSearchParams('FORM')});
  await tryFetch('fetch-no-cors', u('fetch-no-cors'), {method: 'POST', mode: 'no-cors',
    body: new URLSearchParams('FORM')});
  await tryFetch('fetch-get', 'AGENT/healthz?attempt=fetch-get', {});
  await tryXHR('xhr-basic', u('xhr-basic'), 'BASIC', 'grant_type=client_credentials');
  await tryXHR('xhr-post-secret', u('xhr-post-secret'), null, 'FORM');
  await tryTag('img', 'img', u('img'));
  await tryTag('script', 'script', 'AGENT/healthz?attempt=script');
  await tryForm();
  return results;
})();
</script></body></html>`)
}

// rebindPage runs on the rebound origin and fetches every route same-origin, GETs with no Referer.
func rebindPage(origin string) string {
	var calls strings.Builder
	for _, r := range rebindRoutes {
		init := "{method: 'GET', referrerPolicy: 'no-referrer'}"
		if r.method == "POST" {
			init = "{method: 'POST', referrerPolicy: 'no-referrer', headers: {'Authorization': '" +
				basicHeader(idA, secretA) + "', 'Content-Type': 'application/x-www-form-urlencoded'}, " +
				"body: 'grant_type=client_credentials&token=x'}"
		}
		calls.WriteString("  await tryFetch('" + r.name + "', '" + origin + r.path + "?attempt=" + r.name + "', " +
			init + ");\n")
	}
	return "<!doctype html><html><body><script>" + pageHelpers + "window.attack = (async () => {\n" +
		calls.String() + "  return results;\n})();\n</script></body></html>"
}
