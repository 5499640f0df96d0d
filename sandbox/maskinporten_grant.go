package sandbox

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// jws is a parsed compact JWS (a grant, or one of our own tokens).
type jws struct {
	alg     string
	hash    crypto.Hash
	kid     string
	x5c     json.RawMessage // as sent; checked by x5cChain
	hasX5c  bool
	payload []byte
	input   string // signing input: header.payload as sent
	sig     []byte
}

// grantHeaderParams are the header parameters a grant may carry (maskinporten.md §2.1).
var grantHeaderParams = map[string]bool{"alg": true, "kid": true, "x5c": true, "typ": true}

// grantAlgs are the accepted signature algorithms (D1, P7): PKCS #1 v1.5 only.
var grantAlgs = map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}

// grantClaimNames are the claims a grant may carry (§2.2, §7.6); consumer_org is handled apart.
var grantClaimNames = map[string]bool{
	"iss": true, "aud": true, "scope": true, "iat": true, "exp": true, "jti": true,
	"resource": true, "authorization_details": true,
}

// parseJWS parses a compact JWS strictly: three base64url segments without padding or white space (a
// stray line break is MP-011), JSON objects without duplicate members, only the header parameters alg
// (RS256/384/512), kid, x5c and typ ("JWT"), exactly one of kid and x5c. The signature is not checked.
func parseJWS(raw string) (*jws, *grantError) {
	if raw == "" {
		return nil, badAssertion("the assertion is missing")
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, badAssertion("the assertion has a character outside base64url at offset %d", i)
		}
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, badAssertion("the assertion has %d segments; a compact JWS has 3", len(parts))
	}
	var seg [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.Strict().DecodeString(p)
		if err != nil {
			return nil, badAssertion("segment %d is not base64url", i+1)
		}
		seg[i] = b
	}
	hdr, err := decodeObject(seg[0])
	if err != nil {
		return nil, badAssertion("the header is not a JSON object: %v", err)
	}
	t := &jws{payload: seg[1], input: parts[0] + "." + parts[1], sig: seg[2]}
	for name := range hdr {
		if !grantHeaderParams[name] {
			return nil, badAssertion("header parameter %q is not supported", name)
		}
	}
	if err := json.Unmarshal(hdr["alg"], &t.alg); err != nil || hdr["alg"] == nil {
		return nil, badAssertion("the header needs alg as a string")
	}
	var ok bool
	if t.hash, ok = grantAlgs[t.alg]; !ok {
		return nil, badAssertion("alg %q is not supported; use RS256, RS384 or RS512", t.alg)
	}
	if typ, ok := hdr["typ"]; ok && string(typ) != `"JWT"` {
		return nil, badAssertion(`typ must be "JWT" when present`)
	}
	kid, hasKid := hdr["kid"]
	t.x5c, t.hasX5c = hdr["x5c"]
	if hasKid == t.hasX5c {
		return nil, badAssertion("the header needs exactly one of kid and x5c")
	}
	if hasKid {
		if err := json.Unmarshal(kid, &t.kid); err != nil || t.kid == "" {
			return nil, badAssertion("kid must be a non-empty string")
		}
	}
	if _, err := decodeObject(t.payload); err != nil {
		return nil, badAssertion("the claims are not a JSON object: %v", err)
	}
	return t, nil
}

// verify checks the RSA PKCS #1 v1.5 signature with the header's hash.
func (t *jws) verify(pub *rsa.PublicKey) bool {
	h := t.hash.New()
	h.Write([]byte(t.input))
	return rsa.VerifyPKCS1v15(pub, t.hash, h.Sum(nil), t.sig) == nil
}

// grantClaims are the typed claims of a grant.
type grantClaims struct {
	iss, aud, scope, jti string
	iat, exp             time.Time
	resource             json.RawMessage // string or array; checked by checkResource
	rar                  json.RawMessage // authorization_details; checked by checkRAR
	consumerOrg          json.RawMessage
}

// parseClaims decodes the grant's claims: only the documented names, each with its JSON type.
func parseClaims(payload []byte) (*grantClaims, *grantError) {
	obj, err := decodeObject(payload)
	if err != nil {
		return nil, badAssertion("the claims are not a JSON object: %v", err)
	}
	for name := range obj {
		if !grantClaimNames[name] && name != "consumer_org" {
			return nil, badAssertion("claim %q is not allowed", name)
		}
	}
	c := &grantClaims{resource: obj["resource"], rar: obj["authorization_details"], consumerOrg: obj["consumer_org"]}
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
	}{{"iss", &c.iss, true}, {"scope", &c.scope, false}, {"jti", &c.jti, true}} {
		v, ok := obj[f.name]
		if !ok {
			if f.required {
				return nil, badAssertion("claim %s is required", f.name)
			}
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil || string(v) == "null" {
			return nil, badAssertion("claim %s must be a string", f.name)
		}
	}
	if c.jti == "" {
		return nil, badAssertion("claim jti must be a non-empty string")
	}
	if aud, ok := obj["aud"]; ok {
		if err := json.Unmarshal(aud, &c.aud); err != nil || string(aud) == "null" {
			return nil, newGrantError(400, "invalid_grant", "MP-110", "Invalid assertion. Invalid JWT claim aud: it must be one string")
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"iat", &c.iat}, {"exp", &c.exp}} {
		v, ok := obj[f.name]
		if !ok {
			return nil, badAssertion("claim %s is required", f.name)
		}
		t, err := numericDate(v)
		if err != nil {
			return nil, badAssertion("claim %s: %v", f.name, err)
		}
		*f.dst = t
	}
	return c, nil
}

// numericDate decodes an RFC 7519 NumericDate (seconds since the epoch, fractions truncated).
func numericDate(v json.RawMessage) (time.Time, error) {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return time.Time{}, errors.New("not a number")
	}
	if math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, errors.New("out of range")
	}
	return time.Unix(int64(f), 0), nil
}

// decodeObject decodes one JSON object into its members, rejecting duplicate names and trailing data.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("bad member name")
		}
		name, _ := tok.(string)
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", name)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("member %q: bad value", name)
		}
		out[name] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errors.New("unterminated object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the object")
	}
	return out, nil
}
