package tokens

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// selfSignedDER makes a throwaway certificate for the x5c header.
func selfSignedDER(t *testing.T) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test org"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &testKey().PublicKey, testKey())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestGrantHeaderAndClaimsExactly(t *testing.T) {
	der := selfSignedDER(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const iss, aud = "client-1", "https://test.maskinporten.no/"
	rar := func(ext string) []any {
		d := map[string]any{"type": "urn:altinn:systemuser",
			"systemuser_org": map[string]any{"authority": "iso6523-actorid-upis", "ID": "0192:310000001"}}
		if ext != "" {
			d["externalRef"] = ext
		}
		return []any{d}
	}
	kidHeader := map[string]any{"alg": "RS256", "kid": "kid-1", "typ": "JWT"}
	tests := []struct {
		name   string
		kid    string
		x5c    [][]byte
		req    Request
		header map[string]any
		claims map[string]any // without jti, checked apart
	}{
		{"system user", "kid-1", nil, Request{Scopes: []string{"altinn:x"}, Org: "310000001"}, kidHeader,
			map[string]any{"iss": iss, "aud": aud, "scope": "altinn:x", "iat": 1772366400.0, "exp": 1772366460.0,
				"authorization_details": rar("")}},
		{"externalRef and sorted scopes", "kid-1", nil,
			Request{Scopes: []string{"b:y", "a:x", "b:y"}, Org: "310000001", ExternalRef: "payroll"}, kidHeader,
			map[string]any{"iss": iss, "aud": aud, "scope": "a:x b:y", "iat": 1772366400.0, "exp": 1772366460.0,
				"authorization_details": rar("payroll")}},
		{"externalRef equal to org stays", "kid-1", nil,
			Request{Scopes: []string{"altinn:x"}, Org: "310000001", ExternalRef: "310000001"}, kidHeader,
			map[string]any{"iss": iss, "aud": aud, "scope": "altinn:x", "iat": 1772366400.0, "exp": 1772366460.0,
				"authorization_details": rar("310000001")}},
		{"resource", "kid-1", nil,
			Request{Scopes: []string{"altinn:x"}, Org: "310000001", Resource: "https://api.example/"}, kidHeader,
			map[string]any{"iss": iss, "aud": aud, "scope": "altinn:x", "iat": 1772366400.0, "exp": 1772366460.0,
				"authorization_details": rar(""), "resource": "https://api.example/"}},
		{"no org: plain token", "kid-1", nil, Request{Scopes: []string{"altinn:authentication/systemregister.write"}},
			kidHeader,
			map[string]any{"iss": iss, "aud": aud, "scope": "altinn:authentication/systemregister.write",
				"iat": 1772366400.0, "exp": 1772366460.0}},
		{"x5c instead of kid", "", [][]byte{der, der}, Request{Scopes: []string{"altinn:x"}, Org: "310000001"},
			map[string]any{"alg": "RS256", "typ": "JWT", "x5c": []any{
				base64.StdEncoding.EncodeToString(der), base64.StdEncoding.EncodeToString(der)}},
			map[string]any{"iss": iss, "aud": aud, "scope": "altinn:x", "iat": 1772366400.0, "exp": 1772366460.0,
				"authorization_details": rar("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(ClientOptions{Issuer: aud, TokenURL: aud + "token", ClientID: iss, KeyID: tt.kid,
				X5C: tt.x5c, Signer: testKey()})
			if err != nil {
				t.Fatal(err)
			}
			g, err := c.grant(tt.req.Normalize(), now)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(g, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatalf("go-jose cannot parse the grant: %v", err)
			}
			payload, err := jws.Verify(&testKey().PublicKey)
			if err != nil {
				t.Fatalf("signature does not verify: %v", err)
			}
			var header, claims map[string]any
			hb, _ := base64.RawURLEncoding.DecodeString(strings.Split(g, ".")[0])
			if err := json.Unmarshal(hb, &header); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(header, tt.header) {
				t.Errorf("header = %v, want %v", header, tt.header)
			}
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			jti, _ := claims["jti"].(string)
			if !uuidV4.MatchString(jti) {
				t.Errorf("jti %q is not a UUIDv4", jti)
			}
			delete(claims, "jti")
			if !reflect.DeepEqual(claims, tt.claims) {
				t.Errorf("claims = %v\nwant %v", claims, tt.claims)
			}
			if d := claims["exp"].(float64) - claims["iat"].(float64); d <= 0 || d > 120 {
				t.Errorf("exp-iat = %v, want (0,120]", d)
			}
		})
	}
}

func TestGrantJTIUniqueAndFresh(t *testing.T) {
	c, err := NewClient(ClientOptions{Issuer: "https://mp.example/", TokenURL: "https://mp.example/token",
		ClientID: "c", KeyID: "k", Signer: testKey()})
	if err != nil {
		t.Fatal(err)
	}
	var jtis []string
	for range 200 {
		g, err := c.grant(sysReq.Normalize(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var claims struct{ Jti string }
		p, _ := base64.RawURLEncoding.DecodeString(strings.Split(g, ".")[1])
		_ = json.Unmarshal(p, &claims)
		jtis = append(jtis, claims.Jti)
	}
	assertDistinct(t, "jti", jtis)
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := ClientOptions{Issuer: "https://test.maskinporten.no/", TokenURL: "https://test.maskinporten.no/token",
		ClientID: "c", KeyID: "k", Signer: testKey()}
	tests := []struct {
		name string
		mod  func(*ClientOptions)
		want string
	}{
		{"no issuer", func(o *ClientOptions) { o.Issuer = "" }, "Issuer is empty"},
		{"http issuer off loopback", func(o *ClientOptions) { o.Issuer = "http://maskinporten.no/" }, "plain http"},
		{"http token URL off loopback", func(o *ClientOptions) { o.TokenURL = "http://10.0.0.1/token" }, "plain http"},
		{"ftp token URL", func(o *ClientOptions) { o.TokenURL = "ftp://x/token" }, "must use https"},
		{"relative token URL", func(o *ClientOptions) { o.TokenURL = "/token" }, "absolute https URL"},
		{"http altinn off loopback", func(o *ClientOptions) { o.AltinnURL = "http://platform.tt02.altinn.no" }, "plain http"},
		{"no client id", func(o *ClientOptions) { o.ClientID = " " }, "ClientID"},
		{"kid and x5c", func(o *ClientOptions) { o.X5C = [][]byte{{1}} }, "exactly one of KeyID"},
		{"neither kid nor x5c", func(o *ClientOptions) { o.KeyID = "" }, "exactly one of KeyID"},
		{"no signer", func(o *ClientOptions) { o.Signer = nil }, "Signer is nil"},
		{"EC key", func(o *ClientOptions) { o.Signer = ec }, "not RSA"},
		{"1024-bit key", func(o *ClientOptions) { o.Signer = small }, "at least 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mod(&o)
			_, err := NewClient(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewClient error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	loop := good
	loop.Issuer, loop.TokenURL, loop.AltinnURL = "http://127.0.0.1:1/mp/", "http://[::1]:1/token", "http://localhost:2/altinn"
	if _, err := NewClient(loop); err != nil {
		t.Fatalf("loopback http (sandbox) refused: %v", err)
	}
}
