package keystore

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testStore is the conformance suite every backend passes (SPIRE's keymanagertest): newStore returns
// an empty store of the backend, cleaned up by the test.
func testStore(t *testing.T, newStore func(t *testing.T) Store) { testStoreWith(t, newStore, false) }

// testStoreWith is testStore; noImport is set for backends that make their keys themselves and refuse
// Put with ErrNoImport (tpm2): there every key the suite needs is generated, and the import subtests
// check the refusal instead.
func testStoreWith(t *testing.T, newStore func(t *testing.T) Store, noImport bool) {
	ctx := context.Background()
	// add stores some key under name: an imported one where the backend takes imports.
	add := func(t *testing.T, s Store, name string) {
		t.Helper()
		var err error
		if noImport {
			_, err = s.Generate(ctx, name, 2048)
		} else {
			err = s.Put(ctx, name, rsaTestKey(t, 2048))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// refusedPut is what Put of a key the backend cannot take must return.
	refusedPut := ErrUnsupportedKey
	if noImport {
		refusedPut = ErrNoImport
	}

	t.Run("GenerateSignVerify", func(t *testing.T) {
		s := newStore(t)
		k, err := s.Generate(ctx, "maskinporten", 2048)
		if err != nil {
			t.Fatal(err)
		}
		if bits := k.Public().(*rsa.PublicKey).N.BitLen(); bits != 2048 {
			t.Fatalf("generated RSA-%d, want 2048", bits)
		}
		jwk := publicJWKOf(t, k)
		verifyRS256(t, k, jwk)
		// The key read back from the store signs too, and is the same key.
		again, err := s.Signer(ctx, "maskinporten")
		if err != nil {
			t.Fatal(err)
		}
		if !again.Public().(*rsa.PublicKey).Equal(k.Public()) {
			t.Fatal("Signer returned a different key than Generate")
		}
		verifyRS256(t, again, jwk)
	})

	t.Run("PutEachFormat", func(t *testing.T) {
		s := newStore(t)
		k := rsaTestKey(t, 2048)
		if noImport {
			for _, f := range importFormats() {
				signer, err := ParsePrivateKey(f.encode(t, k), []byte(f.password))
				if err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				if err := s.Put(ctx, "import", signer); !errors.Is(err, ErrNoImport) {
					t.Fatalf("%s: Put: got %v, want ErrNoImport", f.name, err)
				}
			}
			if names, err := s.List(ctx); err != nil || len(names) != 0 {
				t.Fatalf("refused imports left %v, %v", names, err)
			}
			return
		}
		var want []string
		for i, f := range importFormats() {
			name := fmt.Sprintf("import-%02d", i)
			want = append(want, name)
			signer, err := ParsePrivateKey(f.encode(t, k), []byte(f.password))
			if err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
			if err := s.Put(ctx, name, signer); err != nil {
				t.Fatalf("%s: Put: %v", f.name, err)
			}
			got, err := s.Signer(ctx, name)
			if err != nil {
				t.Fatalf("%s: Signer: %v", f.name, err)
			}
			if !got.Public().(*rsa.PublicKey).Equal(&k.PublicKey) {
				t.Fatalf("%s: stored key has a different public key", f.name)
			}
		}
		verifyRS256(t, mustSigner(t, s, "import-00"), publicJWKOf(t, k))
		names, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("List = %v, want %v", names, want)
		}
	})

	t.Run("ErrExists", func(t *testing.T) {
		s := newStore(t)
		first, err := s.Generate(ctx, "k", 2048)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Generate(ctx, "k", 2048); !errors.Is(err, ErrExists) {
			t.Fatalf("second Generate: got %v, want ErrExists", err)
		}
		if err := s.Put(ctx, "k", rsaTestKey(t, 2048)); !errors.Is(err, ErrExists) && !(noImport && errors.Is(err, ErrNoImport)) {
			t.Fatalf("Put over a key: got %v, want ErrExists", err)
		}
		if !mustSigner(t, s, "k").Public().(*rsa.PublicKey).Equal(first.Public()) {
			t.Fatal("a refused write replaced the key")
		}
	})

	t.Run("DeleteGone", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Generate(ctx, "a", 2048); err != nil {
			t.Fatal(err)
		}
		add(t, s, "b")
		if err := s.Delete(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signer(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Signer after Delete: got %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second Delete: got %v, want ErrNotFound", err)
		}
		if names, err := s.List(ctx); err != nil || !slices.Equal(names, []string{"b"}) {
			t.Fatalf("List = %v, %v; want [b]", names, err)
		}
		// The name is free again.
		add(t, s, "a")
	})

	t.Run("ListEmptyAndSorted", func(t *testing.T) {
		s := newStore(t)
		names, err := s.List(ctx)
		if err != nil || len(names) != 0 {
			t.Fatalf("empty store lists %v, %v", names, err)
		}
		for _, n := range []string{"zeta", "alpha", "mid.dle_1"} {
			add(t, s, n)
		}
		names, err = s.List(ctx)
		if err != nil || !slices.Equal(names, []string{"alpha", "mid.dle_1", "zeta"}) {
			t.Fatalf("List = %v, %v", names, err)
		}
	})

	t.Run("Refuses", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, "ec", ecKey(t)); !errors.Is(err, refusedPut) {
			t.Errorf("Put EC: got %v, want %v", err, refusedPut)
		}
		if err := s.Put(ctx, "small", rsaTestKey(t, 1024)); !errors.Is(err, refusedPut) {
			t.Errorf("Put RSA-1024: got %v, want %v", err, refusedPut)
		}
		if _, err := s.Generate(ctx, "small", 1024); err == nil {
			t.Error("Generate RSA-1024 succeeded")
		}
		for _, bad := range []string{"", "../x", "a/b", ".hidden", "_index", "sp ace"} {
			if err := s.Put(ctx, bad, rsaTestKey(t, 2048)); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("Put %q: got %v, want a name error", bad, err)
			}
			if _, err := s.Signer(ctx, bad); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("Signer %q: got %v, want a name error", bad, err)
			}
		}
		if names, err := s.List(ctx); err != nil || len(names) != 0 {
			t.Fatalf("refused writes left %v, %v", names, err)
		}
	})

	t.Run("KeepsChain", func(t *testing.T) {
		s := newStore(t)
		key, chain := enterpriseChain(t, time.Now().AddDate(1, 0, 0))
		k, err := WithChain(key, chain)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Put(ctx, "enterprise", k)
		switch {
		case noImport && errors.Is(err, ErrNoImport), errors.Is(err, ErrNoChain):
			// Refused, not stored without its chain.
			if names, err := s.List(ctx); err != nil || len(names) != 0 {
				t.Fatalf("a refused certified key left %v, %v", names, err)
			}
			return
		case err != nil:
			t.Fatal(err)
		}
		got := mustSigner(t, s, "enterprise")
		if !chainEqual(Chain(got), chain) {
			t.Fatalf("the key came back with %d certificates, want its chain of %d", len(Chain(got)), len(chain))
		}
		verifyRS256(t, got, publicJWKOf(t, key))
		// A rotation keeps the retired key's chain with it.
		if _, _, err := Rotate(ctx, s, "enterprise", 2048); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Activate(ctx, s, "enterprise"); err != nil {
			t.Fatal(err)
		}
		if prev := mustSigner(t, s, "enterprise-previous"); !chainEqual(Chain(prev), chain) {
			t.Fatal("the retired key lost its chain")
		}
	})

	t.Run("RotateActivate", func(t *testing.T) {
		s := newStore(t)
		old, err := s.Generate(ctx, "mp", 2048)
		if err != nil {
			t.Fatal(err)
		}
		active, next, err := Rotate(ctx, s, "mp", 2048)
		if err != nil {
			t.Fatal(err)
		}
		if !active.Public().(*rsa.PublicKey).Equal(old.Public()) || next.Public().(*rsa.PublicKey).Equal(old.Public()) {
			t.Fatal("Rotate returned the wrong keys")
		}
		if _, _, err := Rotate(ctx, s, "mp", 2048); !errors.Is(err, ErrExists) {
			t.Fatalf("second Rotate: got %v, want ErrExists", err)
		}
		// Until activation the active name still signs with the old key.
		verifyRS256(t, mustSigner(t, s, "mp"), publicJWKOf(t, old))
		prev, now, err := Activate(ctx, s, "mp")
		if err != nil {
			t.Fatal(err)
		}
		if !prev.Public().(*rsa.PublicKey).Equal(old.Public()) || !now.Public().(*rsa.PublicKey).Equal(next.Public()) {
			t.Fatal("Activate returned the wrong keys")
		}
		verifyRS256(t, mustSigner(t, s, "mp"), publicJWKOf(t, next))
		verifyRS256(t, mustSigner(t, s, "mp-previous"), publicJWKOf(t, old))
		if names, _ := s.List(ctx); !slices.Equal(names, []string{"mp", "mp-previous"}) {
			t.Fatalf("after Activate List = %v", names)
		}
		// A second rotation must not silently drop mp-previous.
		if _, _, err := Rotate(ctx, s, "mp", 2048); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Activate(ctx, s, "mp"); !errors.Is(err, ErrExists) {
			t.Fatalf("Activate over mp-previous: got %v, want ErrExists", err)
		}
		verifyRS256(t, mustSigner(t, s, "mp"), publicJWKOf(t, next))
	})
}

func mustSigner(t testing.TB, s Store, name string) crypto.Signer {
	t.Helper()
	k, err := s.Signer(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicJWKOf renders k's public JWK with PublicJWK and parses it back with go-jose, as Maskinporten
// would read the registered key.
func publicJWKOf(t testing.TB, k crypto.Signer) *jose.JSONWebKey {
	t.Helper()
	b, err := PublicJWK(k.Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"kty", "n", "e", "kid", "alg", "use"} {
		if _, ok := raw[m]; !ok {
			t.Fatalf("public JWK lacks %q: %s", m, b)
		}
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := raw[m]; ok {
			t.Fatalf("public JWK carries private member %q", m)
		}
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	if !jwk.IsPublic() || jwk.Algorithm != "RS256" || jwk.Use != "sig" {
		t.Fatalf("public JWK: public=%v alg=%q use=%q", jwk.IsPublic(), jwk.Algorithm, jwk.Use)
	}
	return &jwk
}

// verifyRS256 signs a compact JWS with k (through crypto.Signer, as the tokens package does) and verifies
// it with go-jose against jwk.
func verifyRS256(t testing.TB, k crypto.Signer, jwk *jose.JSONWebKey) {
	t.Helper()
	header := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"alg":"RS256","kid":%q}`, jwk.KeyID))
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"` + rand.Text() + `"}`))
	digest := sha256.Sum256([]byte(header + "." + payload))
	sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(header+"."+payload+"."+base64.RawURLEncoding.EncodeToString(sig), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jws.Verify(jwk); err != nil {
		t.Fatalf("RS256 signature does not verify with the public JWK: %v", err)
	}
}
