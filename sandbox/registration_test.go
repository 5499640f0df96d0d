package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestRegistrationAPI: the catalogue; a client registered over HTTP (201), again with a second key (200,
// both keys work), taken by another organisation (409), bad bodies (400), browsers refused (403); each
// registration reaches OnRegister; a grant signed with the registered key gets a token.
func TestRegistrationAPI(t *testing.T) {
	var mu sync.Mutex
	var heard []ClientRegistration
	sb := New(Options{OnRegister: func(r ClientRegistration) { mu.Lock(); heard = append(heard, r); mu.Unlock() }})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })

	resp, body := regDo(t, "GET", sb.URL()+"/sandbox/catalogue", "", nil)
	var cat Catalogue
	if resp.StatusCode != 200 || json.Unmarshal(body, &cat) != nil || len(cat.APIScopes) == 0 ||
		len(cat.OnboardingScopes) != 3 || cat.Resources[0] != ResourceExample {
		t.Fatalf("catalogue: %d %s", resp.StatusCode, body)
	}

	k1, k2 := regKey(t, "kid-1"), regKey(t, "kid-2")
	post := func(client, org string, jwk []byte, header map[string]string) (*http.Response, ClientRegistration) {
		b := `{"client_id":"` + client + `","org":"` + org + `","jwk":` + string(jwk) + `,"scopes":["altinn:demo/read"]}`
		resp, body := regDo(t, "POST", sb.URL()+"/sandbox/clients", b, header)
		var r ClientRegistration
		_ = json.Unmarshal(body, &r)
		return resp, r
	}
	if resp, r := post("c-1", "314250052", k1.pub, nil); resp.StatusCode != 201 || !r.Created || r.KID != "kid-1" ||
		len(r.Scopes) != 4 {
		t.Fatalf("first registration: %d %+v", resp.StatusCode, r)
	}
	if resp, r := post("c-1", "314250052", k2.pub, nil); resp.StatusCode != 200 || r.Created || r.KID != "kid-2" {
		t.Fatalf("second key: %d %+v", resp.StatusCode, r)
	}
	if resp, _ := post("c-1", "310000001", k1.pub, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("another organisation's client: %d, want 409", resp.StatusCode)
	}
	if resp, _ := post("c-2", "314250052", k1.pub, map[string]string{"Origin": "http://evil.example"}); resp.StatusCode != 403 {
		t.Errorf("browser request: %d, want 403", resp.StatusCode)
	}
	for name, b := range map[string]string{
		"private key":  `{"client_id":"c-3","org":"314250052","jwk":` + string(k1.priv) + `}`,
		"no kid":       `{"client_id":"c-3","org":"314250052","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}`,
		"bad org":      `{"client_id":"c-3","org":"12","jwk":` + string(k1.pub) + `}`,
		"unknown key":  `{"client_id":"c-3","org":"314250052","jwk":` + string(k1.pub) + `,"extra":1}`,
		"not JSON":     `client_id=c-3`,
		"bad clientid": `{"client_id":"c 3","org":"314250052","jwk":` + string(k1.pub) + `}`,
	} {
		if resp, body := regDo(t, "POST", sb.URL()+"/sandbox/clients", b, nil); resp.StatusCode != 400 {
			t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, body)
		}
	}
	mu.Lock()
	if len(heard) != 2 || heard[0].ClientID != "c-1" || heard[1].KID != "kid-2" {
		t.Errorf("OnRegister heard %+v", heard)
	}
	mu.Unlock()
	// Both registered keys sign grants the token endpoint accepts.
	for _, k := range []*regTestKey{k1, k2} {
		if _, err := tokenFor(t, sb, "c-1", k.kid, k.priv2, "altinn:demo/read"); err != nil {
			t.Errorf("grant signed with %s: %v", k.kid, err)
		}
	}
}

type regTestKey struct {
	kid       string
	pub, priv []byte
	priv2     *rsa.PrivateKey
}

func regKey(t *testing.T, kid string) *regTestKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	priv, _ := json.Marshal(jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	return &regTestKey{kid: kid, pub: pub, priv: priv, priv2: k}
}

func regDo(t *testing.T, method, url, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// tokenFor asks the sandbox for a plain (no system user) token with a grant signed by key.
func tokenFor(t *testing.T, sb *Sandbox, clientID, kid string, key *rsa.PrivateKey, scope string) (string, error) {
	t.Helper()
	now := time.Now().Unix()
	g := &grantSpec{alg: jose.RS256, key: key, header: map[jose.HeaderKey]any{"kid": kid},
		claims: map[string]any{"iss": clientID, "aud": sb.MaskinportenIssuer(), "scope": scope, "iat": now,
			"exp": now + 60, "jti": newUUID()}}
	resp, err := http.PostForm(sb.MaskinportenTokenURL(), url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {g.sign(t)}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}
