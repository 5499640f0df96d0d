package sandbox

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// Altinn's own tokens: RS256 JWTs signed by a key of the Altinn half, published at the OIDC JWKS below.

// altinnSkew is the clock skew Altinn's JWT handler allows (altinn-api.md §1, R17).
const altinnSkew = 10 * time.Second

// errAltinnToken is the cause of every token rejection; details are added, never the token itself.
var errAltinnToken = errors.New("sandbox altinn: token rejected")

// AltinnIssuer is the issuer of the sandbox's Altinn tokens (the exchange's output).
func (s *Sandbox) AltinnIssuer() string { return s.AltinnURL() + "/authentication/api/v1/openid/" }

// VerifyAltinnToken verifies a token issued by the sandbox's Altinn exchange (signature, issuer, exp and
// nbf with 10 s skew) and returns its claims. Errors never contain the token.
func (s *Sandbox) VerifyAltinnToken(raw string) (map[string]any, error) {
	return s.altinn.verifyOwnToken(raw)
}

// signingKey returns the Altinn signing key, generating it on first use.
func (a *altinn) signingKey() (*rsa.PrivateKey, string, error) {
	a.keyOnce.Do(func() {
		a.key, a.keyErr = rsa.GenerateKey(rand.Reader, 2048)
		a.kid = newUUID()
	})
	if a.keyErr != nil {
		return nil, "", fmt.Errorf("sandbox altinn: generate signing key: %w", a.keyErr)
	}
	return a.key, a.kid, nil
}

// signToken signs claims as an RS256 JWT with header {alg, kid, typ}.
func (a *altinn) signToken(claims map[string]any) (string, error) {
	key, kid, err := a.signingKey()
	if err != nil {
		return "", err
	}
	hdr, err := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	if err != nil {
		return "", fmt.Errorf("sandbox altinn: encode token header: %w", err)
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sandbox altinn: encode token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sandbox altinn: sign token: %w", err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// altinnJWT is a JWT split and decoded, not yet verified.
type altinnJWT struct {
	header  map[string]any
	claims  map[string]any
	input   string // header.payload, the signed bytes
	sig     []byte
	payload []byte
}

// parseAltinnJWT splits and decodes a compact JWS. Numbers stay json.Number so copied claims keep their
// exact value.
func parseAltinnJWT(raw string) (*altinnJWT, error) {
	segs := strings.Split(raw, ".")
	if len(segs) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS", errAltinnToken)
	}
	enc := base64.RawURLEncoding
	h, err1 := enc.DecodeString(segs[0])
	p, err2 := enc.DecodeString(segs[1])
	sig, err3 := enc.DecodeString(segs[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: bad base64url segment", errAltinnToken)
	}
	j := &altinnJWT{input: segs[0] + "." + segs[1], sig: sig, payload: p}
	if err := decodeAltinnJSON(h, &j.header); err != nil {
		return nil, fmt.Errorf("%w: bad header JSON", errAltinnToken)
	}
	if err := decodeAltinnJSON(p, &j.claims); err != nil {
		return nil, fmt.Errorf("%w: bad claims JSON", errAltinnToken)
	}
	return j, nil
}

func decodeAltinnJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// verifyOwnToken verifies a token signed by the Altinn key.
func (a *altinn) verifyOwnToken(raw string) (map[string]any, error) {
	j, err := parseAltinnJWT(raw)
	if err != nil {
		return nil, err
	}
	key, kid, err := a.signingKey()
	if err != nil {
		return nil, err
	}
	if j.header["alg"] != "RS256" || j.header["kid"] != kid {
		return nil, fmt.Errorf("%w: alg must be RS256 with the sandbox Altinn kid", errAltinnToken)
	}
	sum := sha256.Sum256([]byte(j.input))
	if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], j.sig) != nil {
		return nil, fmt.Errorf("%w: bad signature", errAltinnToken)
	}
	if iss, _ := j.claims["iss"].(string); iss != a.s.AltinnIssuer() {
		return nil, fmt.Errorf("%w: iss is not %s", errAltinnToken, a.s.AltinnIssuer())
	}
	if err := a.checkTimes(j.claims); err != nil {
		return nil, err
	}
	return j.claims, nil
}

// checkTimes enforces exp (required) and nbf (optional) with the 10 s skew.
func (a *altinn) checkTimes(claims map[string]any) error {
	now := a.s.now()
	exp, ok := altinnNumber(claims["exp"])
	if !ok {
		return fmt.Errorf("%w: no exp", errAltinnToken)
	}
	if !now.Before(time.Unix(exp, 0).Add(altinnSkew)) {
		return fmt.Errorf("%w: expired", errAltinnToken)
	}
	if nbf, ok := altinnNumber(claims["nbf"]); ok && now.Add(altinnSkew).Before(time.Unix(nbf, 0)) {
		return fmt.Errorf("%w: not yet valid", errAltinnToken)
	}
	return nil
}

// altinnNumber reads a JSON number claim decoded as json.Number, float64 or an integer.
func altinnNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		return int64(f), err == nil
	case float64:
		return int64(n), true
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}

// openIDConfig serves the Altinn OIDC metadata: issuer and JWKS address.
func (a *altinn) openIDConfig(w http.ResponseWriter, r *http.Request) {
	altinnJSON(w, http.StatusOK, map[string]any{
		"issuer":                                a.s.AltinnIssuer(),
		"jwks_uri":                              a.s.AltinnIssuer() + ".well-known/openid-configuration/jwks",
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

// jwks serves the public Altinn signing key.
func (a *altinn) jwks(w http.ResponseWriter, r *http.Request) {
	key, kid, err := a.signingKey()
	if err != nil {
		http.Error(w, "signing key unavailable", http.StatusInternalServerError)
		return
	}
	enc := base64.RawURLEncoding
	e := big.NewInt(int64(key.E)).Bytes()
	altinnJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": enc.EncodeToString(key.N.Bytes()), "e": enc.EncodeToString(e),
	}}})
}
