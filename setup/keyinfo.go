package setup

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/json"

	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// KeyInfo is what is shown of a key: never private material.
type KeyInfo struct {
	Name    string          `json:"name"`
	Backend string          `json:"backend"`
	KID     string          `json:"kid"`
	Bits    int             `json:"bits"`
	JWK     json.RawMessage `json:"jwk"`
	// Error says why a listed key could not be read.
	Error string `json:"error,omitempty"`
}

// DescribeKey describes k, stored as name in a backend store: its kid (kid, or when "" the RFC 7638
// thumbprint), size and public JWK.
func DescribeKey(backend, name string, k crypto.Signer, kid string) (KeyInfo, error) {
	if kid == "" {
		var err error
		if kid, err = keystore.Thumbprint(k.Public()); err != nil {
			return KeyInfo{}, err
		}
	}
	jwk, err := keystore.PublicJWK(k.Public(), kid)
	if err != nil {
		return KeyInfo{}, err
	}
	bits := 0
	if pub, ok := k.Public().(*rsa.PublicKey); ok {
		bits = pub.N.BitLen()
	}
	return KeyInfo{Name: name, Backend: backend, KID: kid, Bits: bits, JWK: jwk}, nil
}

// ListKeys describes every key in ks; kid is the configured kid of the key activeName (the others get
// their thumbprint). A key that cannot be read is listed with its Error.
func ListKeys(ctx context.Context, ks keystore.Store, activeName, kid string) ([]KeyInfo, error) {
	names, err := ks.List(ctx)
	if err != nil {
		return nil, err
	}
	out := []KeyInfo{}
	for _, n := range names {
		k, err := ks.Signer(ctx, n)
		if err != nil {
			out = append(out, KeyInfo{Name: n, Backend: ks.Backend(), Error: err.Error()})
			continue
		}
		info, err := DescribeKey(ks.Backend(), n, k, map[bool]string{true: kid}[n == activeName])
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// JWKSet renders {"keys": [...]} as Maskinporten's jwks endpoint takes it.
func JWKSet(infos ...KeyInfo) map[string][]json.RawMessage {
	set := map[string][]json.RawMessage{"keys": {}}
	for _, i := range infos {
		set["keys"] = append(set["keys"], i.JWK)
	}
	return set
}

// RotateKey starts a rotation of key name (keystore.Rotate) and describes the active key (with its
// configured kid) and the next one.
func RotateKey(ctx context.Context, ks keystore.Store, name, kid string, bits int) (active, next KeyInfo, err error) {
	a, n, err := keystore.Rotate(ctx, ks, name, bits)
	if err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	if active, err = DescribeKey(ks.Backend(), name, a, kid); err != nil {
		return KeyInfo{}, KeyInfo{}, err
	}
	next, err = DescribeKey(ks.Backend(), keystore.NextName(name), n, "")
	return active, next, err
}

// ActivateKey makes the next key of name the active one (keystore.Activate) and describes it and the
// previous key, if any. The new key gets its own thumbprint kid: a configured kid belonged to the old key.
func ActivateKey(ctx context.Context, ks keystore.Store, name string) (active KeyInfo, previous *KeyInfo, err error) {
	p, a, err := keystore.Activate(ctx, ks, name)
	if err != nil {
		return KeyInfo{}, nil, err
	}
	if active, err = DescribeKey(ks.Backend(), name, a, ""); err != nil {
		return KeyInfo{}, nil, err
	}
	if p != nil {
		o, err := DescribeKey(ks.Backend(), keystore.PreviousName(name), p, "")
		if err != nil {
			return KeyInfo{}, nil, err
		}
		previous = &o
	}
	return active, previous, nil
}
