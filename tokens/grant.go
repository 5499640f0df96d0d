package tokens

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// grantLifetime is exp−iat of every grant. Maskinporten allows at most 120 s (maskinporten.md §2.2).
const grantLifetime = 60 * time.Second

// systemUserType is the authorization_details type of an Altinn system user.
const systemUserType = "urn:altinn:systemuser"

// grantHeader is the JOSE header. Exactly one of Kid and X5C is set (maskinporten.md §2.1).
type grantHeader struct {
	Alg string   `json:"alg"`
	Kid string   `json:"kid,omitempty"`
	X5C []string `json:"x5c,omitempty"`
	Typ string   `json:"typ"`
}

// grantClaims are exactly the claims maskinporten.md §2.2 allows; nothing else is ever sent.
type grantClaims struct {
	Iss                  string                `json:"iss"`
	Aud                  string                `json:"aud"`
	Scope                string                `json:"scope"`
	Iat                  int64                 `json:"iat"`
	Exp                  int64                 `json:"exp"`
	Jti                  string                `json:"jti"`
	AuthorizationDetails []authorizationDetail `json:"authorization_details,omitempty"`
	Resource             string                `json:"resource,omitempty"`
}

// authorizationDetail is one RAR entry of type urn:altinn:systemuser (maskinporten.md §2.4).
type authorizationDetail struct {
	Type          string        `json:"type"`
	SystemUserOrg systemUserOrg `json:"systemuser_org"`
	ExternalRef   string        `json:"externalRef,omitempty"`
}

// systemUserOrg names the owner of the system user; ID is upper-case on the wire.
type systemUserOrg struct {
	Authority string `json:"authority"`
	ID        string `json:"ID"`
}

// grant builds and signs a fresh JWT grant for r at now: a new jti, iat = now, exp = iat + 60 s.
// r must be normalised and valid. The result is secret: it is sent once and never stored or logged.
func (c *Client) grant(r Request, now time.Time) (string, error) {
	jti, err := newUUID()
	if err != nil {
		return "", fmt.Errorf("make grant jti: %w", err)
	}
	iat := now.Unix()
	claims := grantClaims{
		Iss:      c.clientID,
		Aud:      c.issuer,
		Scope:    r.ScopeString(),
		Iat:      iat,
		Exp:      iat + int64(grantLifetime/time.Second),
		Jti:      jti,
		Resource: r.Resource,
	}
	if r.Org != "" {
		claims.AuthorizationDetails = []authorizationDetail{{
			Type:          systemUserType,
			SystemUserOrg: systemUserOrg{Authority: "iso6523-actorid-upis", ID: "0192:" + r.Org},
			ExternalRef:   r.ExternalRef,
		}}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode grant claims: %w", err)
	}
	return c.sign(payload)
}

// sign makes a compact JWS (RS256) of payload with the client's header and crypto.Signer. RS256 is
// RSASSA-PKCS1-v1_5 with SHA-256: an RSA crypto.Signer given crypto.SHA256 as its SignerOpts signs
// exactly that, whichever backend holds the key.
func (c *Client) sign(payload []byte) (string, error) {
	k := c.key.Load()
	enc := base64.RawURLEncoding
	n := enc.EncodedLen(len(k.header)) + 1 + enc.EncodedLen(len(payload))
	buf := make([]byte, 0, n+1+enc.EncodedLen(k.sigLen))
	buf = enc.AppendEncode(buf, k.header)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	sig, err := k.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("sign grant with key %s: %w (check that the key store is reachable: agent doctor)",
			k.name(), err)
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// keyName names the signing key for messages: its kid, or "x5c certificate".
func (k *signingKey) name() string {
	if k.kid != "" {
		return "kid=" + k.kid
	}
	return "x5c certificate"
}

// encodeHeader returns the JOSE header JSON for either a kid or an x5c chain (standard base64 DER, a
// JSON array even for one certificate: a plain string gives MP-123).
func encodeHeader(kid string, x5c [][]byte) ([]byte, error) {
	h := grantHeader{Alg: "RS256", Kid: kid, Typ: "JWT"}
	for _, der := range x5c {
		h.X5C = append(h.X5C, base64.StdEncoding.EncodeToString(der))
	}
	return json.Marshal(h)
}

// newUUID returns a random (version 4) UUID in its canonical text form.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:]), nil
}
