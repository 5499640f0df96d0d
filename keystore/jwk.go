package keystore

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url without padding: the default kid.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keystore: thumbprint of %T: %w", pub, err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// PublicJWK returns the public JWK of pub as Maskinporten wants it registered: kty, n, e, kid, alg RS256,
// use sig. An empty kid means the RFC 7638 thumbprint.
func PublicJWK(pub crypto.PublicKey, kid string) ([]byte, error) {
	rpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("keystore: public key is %T; Maskinporten needs RSA", pub)
	}
	if kid == "" {
		var err error
		if kid, err = Thumbprint(rpub); err != nil {
			return nil, err
		}
	}
	jwk := jose.JSONWebKey{Key: rpub, KeyID: kid, Algorithm: "RS256", Use: "sig"}
	b, err := json.Marshal(jwk)
	if err != nil {
		return nil, fmt.Errorf("keystore: encode public JWK: %w", err)
	}
	return b, nil
}
