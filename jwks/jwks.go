// Package jwks manages the public key set published on a Maskinporten client (maskinporten.md §5, §6):
// it builds the set to upload from this server's keys and the other servers' public keys (at most 5, no
// key dropped by accident), and talks to Digdir's self-service API (GET and POST
// /clients/{id}/jwks) with an admin client's token, reading back each key's expiry.
//
// An ordinary client cannot read its own keys' expiry: only the self-service API shows it, and it needs a
// separate admin client (Digdir requires it to sign with the enterprise certificate). Without one, the
// agent prints the set this package builds and a person uploads it in Samarbeidsportalen.
//
// jwks imports tokens for the Source type only (the admin client's token).
package jwks

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"time"
)

// MaxKeys is Maskinporten's limit of keys per client; one upload replaces the whole set.
const MaxKeys = 5

// Lifetime is the longest a registered key lives: one year from upload (MP-121 after).
const Lifetime = 365 * 24 * time.Hour

// Key is one public JWK as Maskinporten registers it. Exp (epoch seconds) is set in replies of the
// self-service API; leave it zero when uploading to get the full year.
type Key struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Exp int64  `json:"exp,omitempty"`
}

// Set is a key set: {"keys":[…]}.
type Set struct {
	Keys []Key `json:"keys"`
	// Created and LastUpdated are as the self-service API wrote them (replies only).
	Created     string `json:"created,omitempty"`
	LastUpdated string `json:"last_updated,omitempty"`
}

// Expiry is the expiry of a key from the reply, zero when none was given.
func (k Key) Expiry() time.Time {
	if k.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(k.Exp, 0).UTC()
}

var kidRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// FromPublic returns the JWK of an RSA public key with kid (RS256, use sig).
func FromPublic(pub crypto.PublicKey, kid string) (Key, error) {
	rpub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return Key{}, fmt.Errorf("jwks: the key %q is %T; Maskinporten takes RSA keys", kid, pub)
	}
	if !kidRe.MatchString(kid) {
		return Key{}, fmt.Errorf("jwks: kid %q: use 1-128 letters, digits and ._-", kid)
	}
	return Key{Kty: "RSA", Kid: kid, Use: "sig", Alg: "RS256",
		N: base64.RawURLEncoding.EncodeToString(rpub.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(rpub.E)).Bytes())}, nil
}

// Parse reads a JWK set ({"keys":[…]}) or a single JWK, as an administrator pastes them from another
// server's `agent keys jwks`. Private members (d, p, q, …) are refused: only public keys travel.
func Parse(data []byte) ([]Key, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("jwks: not a JWK or JWK set: %w", err)
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := probe[private]; ok {
			return nil, errors.New("jwks: this is a private key; give only the public JWK (agent keys jwks prints it)")
		}
	}
	var keys []Key
	if raw, ok := probe["keys"]; ok {
		var members []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, fmt.Errorf("jwks: keys: %w", err)
		}
		for _, m := range members {
			if _, ok := m["d"]; ok {
				return nil, errors.New("jwks: the set holds a private key; give only public JWKs")
			}
		}
		var s Set
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		keys = s.Keys
	} else {
		var k Key
		if err := json.Unmarshal(data, &k); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		keys = []Key{k}
	}
	for i, k := range keys {
		if err := k.check(); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
	}
	return keys, nil
}

func (k Key) check() error {
	if k.Kty != "RSA" {
		return fmt.Errorf("kid %q: kty %q, Maskinporten takes RSA", k.Kid, k.Kty)
	}
	if !kidRe.MatchString(k.Kid) {
		return fmt.Errorf("kid %q: use 1-128 letters, digits and ._-", k.Kid)
	}
	if k.Use != "" && k.Use != "sig" {
		return fmt.Errorf("kid %q: use %q, must be sig", k.Kid, k.Use)
	}
	if k.N == "" || k.E == "" {
		return fmt.Errorf("kid %q: n and e are required", k.Kid)
	}
	return nil
}

// Merge builds the set to upload: own first (this server's active and next keys), then the other
// servers' keys, each kid once. Own keys win over a same-kid key of others only when the public key is
// the same; a kid naming two different keys is an error. More than MaxKeys is an error that names them
// all, so no key is dropped silently. Exp is cleared: an upload renews every key to a full year.
func Merge(own, others []Key) ([]Key, error) {
	var out []Key
	for _, k := range slices.Concat(own, others) {
		k.Exp = 0
		if k.Use == "" {
			k.Use = "sig"
		}
		if k.Alg == "" {
			k.Alg = "RS256"
		}
		if err := k.check(); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		i := slices.IndexFunc(out, func(o Key) bool { return o.Kid == k.Kid })
		if i >= 0 {
			if out[i].N != k.N || out[i].E != k.E {
				return nil, fmt.Errorf("jwks: kid %q names two different keys; every server needs its own kid", k.Kid)
			}
			continue
		}
		out = append(out, k)
	}
	if len(out) > MaxKeys {
		var kids []string
		for _, k := range out {
			kids = append(kids, k.Kid)
		}
		return nil, fmt.Errorf("jwks: %d keys (%v) but a Maskinporten client holds at most %d; "+
			"retire an old key first (agent keys activate makes the previous key removable) or give a server its own client",
			len(out), kids, MaxKeys)
	}
	return out, nil
}
