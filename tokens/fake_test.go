package tokens

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testKey is one RSA-2048 key for the whole test binary (generating one per test is slow).
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// fakeClock is a settable clock shared by client, cache and fake server.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recordedGrant is what the fake saw of one token request.
type recordedGrant struct {
	Raw    string         // the assertion
	Header map[string]any // decoded JOSE header
	Claims map[string]any // verified claims
	Form   map[string][]string
	Accept string
	Err    string // why the fake refused it, if it did
}

// reply scripts one response of the fake token endpoint; it returns after writing.
type reply func(w http.ResponseWriter, r *http.Request)

// fakeMP is a small Maskinporten: it verifies each grant with go-jose against the test key, checks the
// claims strictly, records everything, and answers from a script, then with tokens.
type fakeMP struct {
	t        testing.TB
	srv      *httptest.Server
	issuer   string
	clientID string
	now      func() time.Time
	lifetime int // expires_in of issued tokens

	mu        sync.Mutex
	grants    []recordedGrant
	jtis      map[string]bool
	script    []reply
	always    reply         // used when the script is empty, if set
	gate      chan struct{} // token replies wait for it when set
	onRequest func()        // called for every token request before the reply
	issued    []string
	exchanges []string // Authorization headers seen by the exchange endpoint
	exchange  reply    // exchange reply; nil means a JWT valid for exchangeLife
	exchLife  time.Duration
	exchQuote bool
}

func newFakeMP(t testing.TB, now func() time.Time) *fakeMP {
	t.Helper()
	f := &fakeMP{t: t, clientID: "client-1", now: now, lifetime: 120, jtis: map[string]bool{}, exchLife: 30 * time.Minute}
	mux := http.NewServeMux()
	mux.HandleFunc("/maskinporten/token", f.token)
	mux.HandleFunc("/altinn"+exchangePath, f.exchangeHandler)
	f.srv = httptest.NewServer(mux)
	f.issuer = f.srv.URL + "/maskinporten/"
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeMP) tokenURL() string  { return f.srv.URL + "/maskinporten/token" }
func (f *fakeMP) altinnURL() string { return f.srv.URL + "/altinn" }

// push appends scripted replies.
func (f *fakeMP) push(rs ...reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, rs...)
}

func (f *fakeMP) setAlways(r reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always = r
}

func (f *fakeMP) recorded() []recordedGrant {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.grants)
}

func (f *fakeMP) requests() int { return len(f.recorded()) }

func (f *fakeMP) exchangeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.exchanges)
}

func (f *fakeMP) issuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issued)
}

func (f *fakeMP) token(w http.ResponseWriter, r *http.Request) {
	g := recordedGrant{Accept: r.Header.Get("Accept")}
	if err := r.ParseForm(); err == nil {
		g.Form = r.PostForm
	}
	g.Raw = r.PostForm.Get("assertion")
	g.Err = f.check(r, &g)
	f.mu.Lock()
	f.grants = append(f.grants, g)
	var next reply
	if len(f.script) > 0 {
		next, f.script = f.script[0], f.script[1:]
	} else {
		next = f.always
	}
	gate, hook := f.gate, f.onRequest
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if gate != nil {
		<-gate
	}
	if g.Err != "" {
		oauthError(http.StatusBadRequest, "invalid_request", g.Err)(w, r)
		return
	}
	if next != nil {
		next(w, r)
		return
	}
	tok := "mp-" + rand.Text()
	f.mu.Lock()
	f.issued = append(f.issued, tok)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d,"scope":%q}`, tok, f.lifetime, g.Claims["scope"])
}

// check verifies the grant as Maskinporten would; it returns why it is refused, or "".
func (f *fakeMP) check(r *http.Request, g *recordedGrant) string {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return "not a form POST"
	}
	if len(g.Form) != 2 || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return "form must be exactly grant_type=jwt-bearer and assertion"
	}
	jws, err := jose.ParseSignedCompact(g.Raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "MP-011 Invalid assertion: " + err.Error()
	}
	payload, err := jws.Verify(&testKey().PublicKey)
	if err != nil {
		return "MP-124 bad signature"
	}
	h, _ := base64.RawURLEncoding.DecodeString(strings.SplitN(g.Raw, ".", 2)[0])
	_ = json.Unmarshal(h, &g.Header)
	if err := json.Unmarshal(payload, &g.Claims); err != nil {
		return "MP-011 claims are not JSON"
	}
	allowed := []string{"iss", "aud", "scope", "iat", "exp", "jti", "resource", "authorization_details"}
	for k := range g.Claims {
		if !slices.Contains(allowed, k) {
			return "Invalid assertion: claim " + k
		}
	}
	iat, _ := g.Claims["iat"].(float64)
	exp, _ := g.Claims["exp"].(float64)
	switch {
	case g.Claims["iss"] != f.clientID:
		return "MP-100 client not found"
	case g.Claims["aud"] != f.issuer:
		return "MP-110 Invalid JWT claim aud"
	case exp-iat > 120 || exp <= iat:
		return "MP-130 exp-iat out of range"
	case f.now != nil && (iat > float64(f.now().Unix())+10 || iat < float64(f.now().Unix())-10):
		return "Issue time is after now"
	}
	jti, _ := g.Claims["jti"].(string)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.jtis[jti] {
		return "MP-012 Grant is used before"
	}
	f.jtis[jti] = true
	return ""
}

func (f *fakeMP) exchangeHandler(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.exchanges = append(f.exchanges, r.Header.Get("Authorization"))
	custom, life, quote := f.exchange, f.exchLife, f.exchQuote
	known := slices.Contains(f.issued, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	f.mu.Unlock()
	if custom != nil {
		custom(w, r)
		return
	}
	if r.Method != http.MethodGet || r.Header.Get("Accept") != "text/plain" || !known {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	now := f.now().Unix()
	jwt := fakeJWT(map[string]any{"iat": now, "exp": now + int64(life/time.Second), "scope": "altinn:x"})
	if quote {
		jwt = `"` + jwt + `"`
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, jwt)
}

// fakeJWT makes an (unsigned-looking) JWT with the given claims; the exchange never verifies it.
func fakeJWT(claims map[string]any) string {
	p, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","kid":"altinn"}`)) + "." + enc.EncodeToString(p) + "." +
		enc.EncodeToString([]byte("sig-"+rand.Text()))
}

// status replies with code, optional headers (name, value pairs) and body.
func status(code int, body string, headers ...string) reply {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

func oauthError(code int, errCode, desc string, headers ...string) reply {
	b, _ := json.Marshal(map[string]string{"error": errCode, "error_description": desc})
	return status(code, string(b), append(headers, "Content-Type", "application/json")...)
}

// reset closes the connection with a TCP RST after the request was read.
func reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// testClient makes a Client for f with fast retries; mod may change the options.
func testClient(t testing.TB, f *fakeMP, mod ...func(*ClientOptions)) *Client {
	t.Helper()
	o := ClientOptions{
		Issuer:     f.issuer,
		TokenURL:   f.tokenURL(),
		ClientID:   f.clientID,
		KeyID:      "kid-1",
		Signer:     testKey(),
		AltinnURL:  f.altinnURL(),
		HTTPClient: NewHTTPClient(HTTPOptions{}),
		Now:        f.now,
		Retry:      RetryPolicy{Max: 3, WaitMin: time.Millisecond, WaitMax: 2 * time.Millisecond},
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// sysReq is a typical system-user request.
var sysReq = Request{Scopes: []string{"altinn:x"}, Org: "310000001"}

func mustToken(t testing.TB, s Source, r Request) Token {
	t.Helper()
	tok, err := s.Token(context.Background(), r)
	if err != nil {
		t.Fatalf("Token(%s): %v", r, err)
	}
	return tok
}

func jtisOf(gs []recordedGrant) []string {
	var out []string
	for _, g := range gs {
		jti, _ := g.Claims["jti"].(string)
		out = append(out, jti)
	}
	return out
}

func assertDistinct(t testing.TB, what string, xs []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, x := range xs {
		if x == "" || seen[x] {
			t.Fatalf("%s not distinct and non-empty: %q", what, xs)
		}
		seen[x] = true
	}
}
