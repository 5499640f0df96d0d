package tokens

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestExchange(t *testing.T) {
	tests := []struct {
		name  string
		quote bool
	}{
		{"bare JWT", false},
		{"JSON-quoted JWT", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			f := newFakeMP(t, clk.Now)
			f.exchQuote = tt.quote
			c := testClient(t, f)
			tok := mustToken(t, c, Request{Scopes: []string{"altinn:x"}, Org: "310000001", Kind: KindAltinn})
			if strings.Count(tok.AccessToken, ".") != 2 || strings.Contains(tok.AccessToken, `"`) {
				t.Errorf("token is not a bare JWT: %d dots", strings.Count(tok.AccessToken, "."))
			}
			if want := clk.Now().Add(30 * time.Minute); !tok.Expiry.Equal(want) {
				t.Errorf("Expiry = %s, want exp = %s", tok.Expiry, want)
			}
			mp := f.issuedTokens()
			if len(mp) != 1 || len(f.exchangeCalls()) != 1 || f.exchangeCalls()[0] != "Bearer "+mp[0] {
				t.Errorf("exchange was not called once with the Maskinporten token as Bearer")
			}
			if tok.AccessToken == mp[0] {
				t.Error("got the Maskinporten token back, not the Altinn token")
			}
		})
	}
}

func TestExchangeExpiry(t *testing.T) {
	sent := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	exp := sent.Add(30 * time.Minute).Unix()
	tests := []struct {
		name   string
		claims map[string]any
		want   time.Time
		err    string
	}{
		{"exp only", map[string]any{"exp": exp}, time.Unix(exp, 0), ""},
		{"exp and iat in step", map[string]any{"exp": exp, "iat": sent.Unix()}, time.Unix(exp, 0), ""},
		{"Altinn clock 10 min ahead", map[string]any{"exp": exp + 600, "iat": sent.Unix() + 600}, sent.Add(30 * time.Minute), ""},
		{"no exp", map[string]any{"iat": sent.Unix()}, time.Time{}, "no exp"},
		{"exp not a number", map[string]any{"exp": "soon"}, time.Time{}, "JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := parseExchanged([]byte(fakeJWT(tt.claims)+"\n"), sent)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("expiry = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	for _, body := range []string{"", "not-a-jwt", `"a.b"`, `{"token":"x"}`, "a.!!!.c"} {
		if _, _, err := parseExchanged([]byte(body), sent); err == nil {
			t.Errorf("parseExchanged(%q) accepted it", body)
		}
	}
}

func TestExchangeErrorsAreTyped(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		status    int
		hint      string
		temporary bool
	}{
		{"401 empty", status(401, ""), 401, "same environment", false},
		{"400 string", status(400, `"Unknown provider"`), 400, "this provider", false},
		{"410", status(410, ""), 410, "bug", false},
		{"503", status(503, "", "Retry-After", "0"), 503, "try again later", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMP(t, time.Now)
			f.exchange = tt.reply
			c := testClient(t, f)
			_, err := c.Token(context.Background(), Request{Scopes: []string{"altinn:x"}, Org: "310000001", Kind: KindAltinn})
			e := AsError(err)
			if e == nil || e.Op != "altinn exchange" || e.StatusCode != tt.status || e.Temporary != tt.temporary ||
				!strings.Contains(e.Hint(), tt.hint) || !strings.HasPrefix(err.Error(), "altinn exchange: ") {
				t.Fatalf("error = %v", err)
			}
			wantCalls := 1
			if tt.temporary {
				wantCalls = 4 // retried like any upstream GET
			}
			if len(f.exchangeCalls()) != wantCalls {
				t.Errorf("exchange called %d times, want %d", len(f.exchangeCalls()), wantCalls)
			}
		})
	}
}

func TestExchangeNeedsAltinnURL(t *testing.T) {
	f := newFakeMP(t, time.Now)
	c := testClient(t, f, func(o *ClientOptions) { o.AltinnURL = "" })
	_, err := c.Token(context.Background(), Request{Scopes: []string{"altinn:x"}, Kind: KindAltinn})
	if err == nil || !strings.Contains(err.Error(), "endpoints.altinn") {
		t.Fatalf("error = %v", err)
	}
}

// TestCacheExchangeUsesCachedMaskinportenToken: the Altinn kind takes its Maskinporten token from the
// same cache, so a forced Altinn refresh and a Maskinporten-kind call cost no extra Maskinporten fetch.
func TestCacheExchangeUsesCachedMaskinportenToken(t *testing.T) {
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	cache := NewCache(testClient(t, f), CacheOptions{Now: clk.Now})
	alt := Request{Scopes: []string{"altinn:x"}, Org: "310000001", Kind: KindAltinn}
	a1 := mustToken(t, cache, alt)
	a2, err := cache.Refresh(context.Background(), alt)
	if err != nil {
		t.Fatal(err)
	}
	mp := mustToken(t, cache, Request{Scopes: []string{"altinn:x"}, Org: "310000001"})
	if f.requests() != 1 || len(f.exchangeCalls()) != 2 {
		t.Fatalf("%d Maskinporten requests and %d exchanges, want 1 and 2", f.requests(), len(f.exchangeCalls()))
	}
	if a1.AccessToken == a2.AccessToken || mp.AccessToken == a1.AccessToken || f.exchangeCalls()[1] != "Bearer "+mp.AccessToken {
		t.Error("tokens mixed up between kinds")
	}
	// The Altinn token lives 30 min; the 120 s Maskinporten token under it expires long before, and a later
	// exchange gets a fresh one.
	clk.Advance(29*time.Minute + 55*time.Second)
	if got := mustToken(t, cache, alt); got.AccessToken == a2.AccessToken {
		t.Error("Altinn token with 5 s left was served")
	}
	if f.requests() != 2 {
		t.Errorf("%d Maskinporten requests, want 2", f.requests())
	}
}
