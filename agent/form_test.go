package agent

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// TestParseForm: the in-place parser reads the known fields as url.ParseQuery does, refuses a repeated
// parameter, a malformed escape and a ';' in a key, and ignores unknown parameters.
func TestParseForm(t *testing.T) {
	long := strings.Repeat("x=1&", maxFastParams) + "grant_type=client_credentials"
	for _, tc := range []struct {
		name, body string
		want       map[int]string // field → value; absent fields must be absent
		err        string         // part of the error description, "" for none
	}{
		{"token request", "grant_type=client_credentials", map[int]string{fieldGrantType: "client_credentials"}, ""},
		{"all fields", "grant_type=client_credentials&scope=a+b%3Ac&system_user=su&client_id=id&client_secret=s%2Bx&token=t",
			map[int]string{fieldGrantType: "client_credentials", fieldScope: "a b:c", fieldSystemUser: "su",
				fieldClientID: "id", fieldClientSecret: "s+x", fieldToken: "t"}, ""},
		{"escaped key", "grant%5Ftype=client_credentials", map[int]string{fieldGrantType: "client_credentials"}, ""},
		{"empty parts and value", "&&scope=&grant_type", map[int]string{fieldScope: "", fieldGrantType: ""}, ""},
		{"unknown ignored", "foo=bar&grant_type=x", map[int]string{fieldGrantType: "x"}, ""},
		{"repeated", "scope=a&scope=b", nil, `"scope" is repeated`},
		{"repeated unknown", "foo=1&foo=2", nil, `"foo" is repeated`},
		{"repeated once escaped", "scope=a&sc%6Fpe=b", nil, "is repeated"},
		{"bad escape", "scope=%zz", nil, "cannot be parsed"},
		{"short escape", "scope=%4", nil, "cannot be parsed"},
		{"semicolon", "a;b=1&grant_type=x", nil, "cannot be parsed"},
		{"long form", long, map[int]string{fieldGrantType: "client_credentials"}, `"x" is repeated`},
		{"long form ok", strings.Repeat("&", 40) + "grant_type=y", map[int]string{fieldGrantType: "y"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f oauthForm
			oe := parseForm([]byte(tc.body), &f)
			if tc.err != "" {
				if oe == nil || !strings.Contains(oe.Description, tc.err) {
					t.Fatalf("error %v, want one containing %q", oe, tc.err)
				}
				return
			}
			if oe != nil {
				t.Fatalf("error %q", oe.Description)
			}
			for i, name := range fieldNames {
				want, ok := tc.want[i]
				if f.has(i) != ok || string(f.get(i)) != want {
					t.Errorf("%s = %q (present %v), want %q (present %v)", name, f.get(i), f.has(i), want, ok)
				}
			}
		})
	}
}

// FuzzParseForm: for any body, parseForm accepts exactly what url.ParseQuery accepts without a repeated
// key, and then reads the same values.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"grant_type=client_credentials", "a=1&a=2", "scope=a+b%20c", "%", "x;y=1", "&&=&",
		"client_secret=%2B%2b", strings.Repeat("k=v&", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var form oauthForm
		oe := parseForm([]byte(body), &form)
		want, err := url.ParseQuery(body)
		ok := err == nil
		for _, v := range want {
			ok = ok && len(v) == 1
		}
		if ok != (oe == nil) {
			t.Fatalf("parseForm error %v, url.ParseQuery %v (values %v)", oe, err, want)
		}
		if !ok {
			return
		}
		for i, name := range fieldNames {
			v, present := want[name]
			if form.has(i) != present || (present && string(form.get(i)) != v[0]) {
				t.Fatalf("%s = %q (%v), url.ParseQuery %q", name, form.get(i), form.has(i), v)
			}
		}
	})
}

// TestHotPathAllocations: a token request answered from the tokens.Cache allocates once in the agent (its
// request state): the form, the credentials, the cache hit, the metrics and the reply allocate nothing. The request and
// the response writer are reused here, so the count is the handler's own; it is a count, not a speed.
func TestHotPathAllocations(t *testing.T) {
	clock := newFakeClock()
	src := &fakeSource{clock: clock, fixed: inProcessToken}
	srv, err := New(Options{Config: testConfig(), Now: clock.Now,
		Tokens: tokens.NewCache(src, tokens.CacheOptions{Now: clock.Now})})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	body := &rewound{strings.NewReader("grant_type=client_credentials")}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", body)
	r.Host = "127.0.0.1:7070"
	r.Header.Set("Content-Type", formType)
	r.Header.Set("Authorization", basicHeader(idA, secretA))
	w := &reusedWriter{h: http.Header{}}
	serve := func() {
		_, _ = body.Seek(0, io.SeekStart)
		r.Body = body
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != 200 {
			t.Fatalf("status %d", w.code)
		}
	}
	serve() // fills the cache
	// AllocsPerRun counts the whole process's allocations: goroutines of earlier tests still winding down
	// can only add to it, so the least of a few runs is the handler's own count.
	least := math.Inf(1)
	for range 5 {
		least = min(least, testing.AllocsPerRun(500, serve))
	}
	if least > 1 {
		t.Errorf("a cached token request allocates %.1f times in the agent, want 1 (its request state)", least)
	}
}

// rewound is a request body read again and again.
type rewound struct{ *strings.Reader }

func (rewound) Close() error { return nil }

// reusedWriter is a ResponseWriter that keeps its header map and discards the body.
type reusedWriter struct {
	h    http.Header
	code int
}

func (w *reusedWriter) Header() http.Header { return w.h }
func (w *reusedWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *reusedWriter) Write(b []byte) (int, error) {
	w.WriteHeader(200)
	return len(b), nil
}

// FuzzBasicAuth: basicAuth reads what net/http's Request.BasicAuth reads, and wipes the encoded copy it
// decodes from.
func FuzzBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic YTpi", "basic YTpi", "Basic Og==", "Basic !!", "Bearer x", "Basic YQ==",
		"Basic " + strings.Repeat("YWFh", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Header.Set("Authorization", v)
		wantID, wantSecret, wantOK := r.BasicAuth()
		sc := getScratch()
		defer sc.release()
		id, secret, ok := basicAuth(r.Header.Get("Authorization"), sc)
		if ok != wantOK || (ok && (string(id) != wantID || string(secret) != wantSecret)) {
			t.Fatalf("basicAuth(%q) = %q %q %v, Request.BasicAuth %q %q %v", v, id, secret, ok, wantID, wantSecret, wantOK)
		}
		rest := sc.cred[len(sc.cred):cap(sc.cred)] // past the credentials, whichever array holds them
		for _, c := range rest {
			if c != 0 {
				t.Fatalf("the scratch holds bytes past the decoded credentials")
			}
		}
	})
}
