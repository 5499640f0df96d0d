package jwks

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

const org = "314250052"

var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	var out []*rsa.PrivateKey
	for range 7 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out = append(out, k)
	}
	return out
})

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env: a sandbox with the service client "svc" (key 0) and the admin client "admin" with the self-service
// scopes, both of org. The admin client signs with the enterprise certificate (x5c) the sandbox's test
// CA issued for key 6, as Digdir requires.
func env(t *testing.T, adminScopes ...string) (*Client, *sandbox.Sandbox, *clock) {
	t.Helper()
	sb, clk := newSandbox(t)
	k := testKeys()
	chain, err := sb.EnterpriseCertificate(org, k[6].Public())
	must(t, err)
	var x5c [][]byte
	for _, c := range chain {
		x5c = append(x5c, c.Raw)
	}
	must(t, sb.RegisterClient(sandbox.Client{ID: "admin", Org: org, Scopes: adminScopes}))
	tc, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
		ClientID: "admin", X5C: x5c, Signer: k[6], Now: clk.Now})
	must(t, err)
	return &Client{BaseURL: sb.SelfServiceURL(), Tokens: tc}, sb, clk
}

// envKID is env with an admin client that signs with a registered key (kid "adm", key 6) instead of the
// enterprise certificate.
func envKID(t *testing.T, adminScopes ...string) (*Client, *sandbox.Sandbox, *clock) {
	t.Helper()
	sb, clk := newSandbox(t)
	k := testKeys()
	must(t, sb.RegisterClient(sandbox.Client{ID: "admin", Org: org, Scopes: adminScopes,
		Keys: []sandbox.ClientKey{{KID: "adm", Public: k[6].Public()}}}))
	tc, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
		ClientID: "admin", KeyID: "adm", Signer: k[6], Now: clk.Now})
	must(t, err)
	return &Client{BaseURL: sb.SelfServiceURL(), Tokens: tc}, sb, clk
}

// newSandbox starts a sandbox on a fake clock with the service client "svc" (key 0, kid k0) of org.
func newSandbox(t *testing.T) (*sandbox.Sandbox, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 7, 20, 8, 0, 0, 0, time.UTC)}
	sb := sandbox.New(sandbox.Options{Now: clk.Now})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	must(t, sb.RegisterClient(sandbox.Client{ID: "svc", Org: org, Scopes: []string{"altinn:x"},
		Keys: []sandbox.ClientKey{{KID: "k0", Public: testKeys()[0].Public()}}}))
	return sb, clk
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func key(t *testing.T, i int, kid string) Key {
	t.Helper()
	k, err := FromPublic(testKeys()[i].Public(), kid)
	must(t, err)
	return k
}

// TestUploadReadsBackExpiry: Replace posts the merged set, replaces the old one and reads back each
// key's exp (one year from upload); Get shows the same; a re-upload renews.
func TestUploadReadsBackExpiry(t *testing.T) {
	c, sb, clk := env(t, ScopeRead, ScopeWrite)
	ctx := context.Background()
	set, err := Merge([]Key{key(t, 0, "k0"), key(t, 1, "k1")}, nil)
	must(t, err)
	got, err := c.Replace(ctx, "svc", set)
	must(t, err)
	want := clk.Now().Add(Lifetime)
	if len(got.Keys) != 2 || !got.Keys[0].Expiry().Equal(want) || !got.Keys[1].Expiry().Equal(want) {
		t.Fatalf("reply %+v, want two keys expiring %s", got.Keys, want)
	}
	reg, err := sb.ClientKeys("svc")
	must(t, err)
	if len(reg) != 2 || reg[1].KID != "k1" {
		t.Fatalf("sandbox holds %+v", reg)
	}
	clk.Add(24 * time.Hour)
	read, err := c.Get(ctx, "svc")
	must(t, err)
	if len(read.Keys) != 2 || !read.Keys[1].Expiry().Equal(want) {
		t.Fatalf("Get: %+v", read.Keys)
	}
	// Re-posting without exp renews to a year from now; the set is replaced (k0 dropped).
	got, err = c.Replace(ctx, "svc", []Key{key(t, 1, "k1")})
	must(t, err)
	if len(got.Keys) != 1 || !got.Keys[0].Expiry().Equal(clk.Now().Add(Lifetime)) {
		t.Fatalf("renewal: %+v", got.Keys)
	}
}

// TestSelfServiceRefusals: without the write scope no token (MP-200, named); a client of another org 404; a
// duplicate kid 409; an admin client that signs with a registered key (kid) instead of the enterprise
// certificate gets its token but the self-service API refuses it (403 access_denied, naming the
// certificate), and nothing changes; with the requirement off (the "works in practice" reading) it is
// accepted.
func TestSelfServiceRefusals(t *testing.T) {
	ctx := context.Background()
	c, sb, _ := env(t, ScopeRead)
	var e *Error
	// An admin client without the write scope gets no token for it (MP-200); the error names the scope.
	if _, err := c.Replace(ctx, "svc", []Key{key(t, 1, "k1")}); err == nil || !strings.Contains(err.Error(), "idporten:dcr.write") ||
		!strings.Contains(err.Error(), "MP-200") {
		t.Fatalf("no write scope: %v", err)
	}
	must(t, sb.RegisterClient(sandbox.Client{ID: "foreign", Org: "310000002", Scopes: []string{"x"}}))
	if _, err := c.Get(ctx, "foreign"); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("another org's client: %v", err)
	}
	c2, _, _ := env(t, ScopeRead, ScopeWrite)
	if _, err := c2.Replace(ctx, "svc", []Key{key(t, 1, "dup"), key(t, 2, "dup")}); !errors.As(err, &e) || e.Status != 409 {
		t.Fatalf("duplicate kid: %v", err)
	}
	c3, sb3, _ := envKID(t, ScopeRead, ScopeWrite)
	_, err := c3.Replace(ctx, "svc", []Key{key(t, 1, "k1")})
	if !errors.As(err, &e) || e.Status != 403 || e.Code != "access_denied" || !strings.Contains(e.Description, "enterprise certificate") ||
		!strings.Contains(err.Error(), "grant_header: x5c") {
		t.Fatalf("kid-signed admin client: %v", err)
	}
	if reg, _ := sb3.ClientKeys("svc"); len(reg) != 1 || reg[0].KID != "k0" {
		t.Fatalf("a refused upload changed the keys: %+v", reg)
	}
	sb3.RequireCertificateForSelfService(false)
	if _, err := c3.Replace(ctx, "svc", []Key{key(t, 1, "k1")}); err != nil {
		t.Fatalf("kid-signed admin client with the requirement off: %v", err)
	}
}

// TestAdminScopes: with Client.Scopes set, one admin token with those scopes serves reads and uploads.
func TestAdminScopes(t *testing.T) {
	c, sb, _ := env(t, ScopeRead, ScopeWrite)
	c.Scopes = []string{ScopeRead, ScopeWrite}
	ctx := context.Background()
	if _, err := c.Replace(ctx, "svc", []Key{key(t, 1, "k1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	before := sb.Stats().TokensIssued
	c.Scopes = []string{ScopeWrite}
	if _, err := c.Get(ctx, "svc"); err == nil || !strings.Contains(err.Error(), ScopeRead) {
		t.Fatalf("a read with a write-only admin token: %v, want the missing scope named", err)
	}
	if sb.Stats().TokensIssued != before+1 {
		t.Fatalf("tokens issued %d → %d, want one more (the write-only token)", before, sb.Stats().TokensIssued)
	}
}

// TestMerge: own keys first, others kept, duplicates once, a kid reused for another key refused, more
// than five refused naming every kid, private keys refused by Parse.
func TestMerge(t *testing.T) {
	own := []Key{key(t, 0, "a-active"), key(t, 1, "a-next")}
	others := []Key{key(t, 2, "b-active"), key(t, 0, "a-active")}
	got, err := Merge(own, others)
	must(t, err)
	var kids []string
	for _, k := range got {
		kids = append(kids, k.Kid)
	}
	if strings.Join(kids, ",") != "a-active,a-next,b-active" {
		t.Fatalf("merged kids %v", kids)
	}
	if _, err := Merge(own, []Key{key(t, 3, "a-next")}); err == nil || !strings.Contains(err.Error(), "two different keys") {
		t.Fatalf("kid clash: %v", err)
	}
	many := []Key{key(t, 2, "b1"), key(t, 3, "b2"), key(t, 4, "b3"), key(t, 5, "b4")}
	if _, err := Merge(own, many); err == nil || !strings.Contains(err.Error(), "b4") || !strings.Contains(err.Error(), "at most 5") {
		t.Fatalf("six keys: %v", err)
	}
	if _, err := Parse([]byte(`{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB","d":"secret"}`)); err == nil {
		t.Fatal("a private JWK was accepted")
	}
	parsed, err := Parse([]byte(`{"keys":[{"kty":"RSA","kid":"x","use":"sig","alg":"RS256","n":"AQAB","e":"AQAB"}]}`))
	if err != nil || len(parsed) != 1 || parsed[0].Kid != "x" {
		t.Fatalf("Parse set: %v %v", parsed, err)
	}
}

// TestExpiredKeyGivesMP121: a key whose uploaded exp has passed fails grants with MP-121.
func TestExpiredKeyGivesMP121(t *testing.T) {
	c, sb, clk := env(t, ScopeRead, ScopeWrite)
	k := key(t, 0, "k0")
	k.Exp = clk.Now().Add(time.Hour).Unix()
	_, err := c.Replace(context.Background(), "svc", []Key{k})
	must(t, err)
	clk.Add(2 * time.Hour)
	svc, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
		ClientID: "svc", KeyID: "k0", Signer: testKeys()[0], Now: clk.Now})
	must(t, err)
	_, err = svc.Token(context.Background(), tokens.Request{Scopes: []string{"altinn:x"}})
	if err == nil || !strings.Contains(err.Error(), "MP-121") {
		t.Fatalf("expired key: %v", err)
	}
}
