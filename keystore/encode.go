package keystore

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
)

// Key sizes accepted anywhere in the package. Maskinporten documents RSA-2048 (maskinporten.md §5).
const (
	minBits = 2048
	maxBits = 8192
)

// nameRE is what a key name may look like: it becomes a keyring account, a systemd credential name and a
// file name, so it is kept to characters all three accept, with no path separators and no leading dot.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$`)

// CheckName reports whether name can name a key in every backend: 1–80 characters of A–Z, a–z, 0–9, '.',
// '_' and '-', starting with a letter or digit.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("keystore: key name %q is not allowed: use 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Wipe overwrites b with zeros: best effort for buffers that held key material or passwords (D12). Go
// strings and big.Ints cannot be wiped; see doc.go.
func Wipe(b []byte) {
	clear(b)
}

// rsaKey returns key as an RSA private key Maskinporten can use, or an ErrUnsupportedKey error.
func rsaKey(key any) (*rsa.PrivateKey, error) {
	if c, ok := key.(*certified); ok {
		key = c.PrivateKey
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("keystore: the key is %s, but Maskinporten needs RSA (RS256): make one with \"agent keys generate\" or import an RSA key: %w", keyKind(key), ErrUnsupportedKey)
	}
	if bits := rk.N.BitLen(); bits < minBits || bits > maxBits {
		return nil, fmt.Errorf("keystore: the key is RSA-%d; Maskinporten needs RSA of at least %d bits (2048 is what it documents): make one with \"agent keys generate\": %w", bits, minBits, ErrUnsupportedKey)
	}
	if err := rk.Validate(); err != nil {
		return nil, fmt.Errorf("keystore: the RSA key is inconsistent (%v): the file is damaged; export it again: %w", err, ErrUnsupportedKey)
	}
	rk.Precompute()
	return rk, nil
}

// keyKind names a key's type for messages without printing any of it.
func keyKind(key any) string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("RSA-%d", k.N.BitLen())
	case crypto.Signer:
		return fmt.Sprintf("a %T key", k.Public())
	case nil:
		return "empty"
	}
	return fmt.Sprintf("a %T", key)
}

// marshalDER encodes key as PKCS#8 DER, for backends that keep the key alone: a key carrying a
// certificate chain is refused (ErrNoChain) rather than stored without it. The caller wipes the result.
func marshalDER(key crypto.Signer) ([]byte, error) {
	if len(Chain(key)) > 0 {
		return nil, fmt.Errorf("keystore: this backend keeps the key alone and would drop its enterprise certificate chain, which grants with x5c need: on Windows keep the certificate in the certificate store (backend windows-cert), on Linux use backend systemd-creds: %w", ErrNoChain)
	}
	return marshalKeyDER(key)
}

// marshalKeyDER encodes key (without any chain) as PKCS#8 DER. The caller wipes the result.
func marshalKeyDER(key crypto.Signer) ([]byte, error) {
	rk, err := rsaKey(key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		return nil, fmt.Errorf("keystore: encode the key as PKCS#8: %w", err)
	}
	return der, nil
}

// marshalPEM encodes key as a PKCS#8 PEM block ("PRIVATE KEY") followed by its certificate chain, if
// any, as CERTIFICATE blocks. The caller wipes the result.
func marshalPEM(key crypto.Signer) ([]byte, error) {
	der, err := marshalKeyDER(key)
	if err != nil {
		return nil, err
	}
	defer Wipe(der)
	return appendChainPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), key), nil
}

// parseStoredDER reads the PKCS#8 DER a backend stored. It wipes nothing; the caller owns der.
func parseStoredDER(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keystore: the stored key is not PKCS#8 (%v): delete it and import or generate it again", err)
	}
	return rsaKey(k)
}

// parseStoredPEM reads the PKCS#8 PEM a backend stored, and the certificate chain after it, wiping the
// decoded DER. A key stored with a chain comes back carrying it (Chainer).
func parseStoredPEM(data []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("keystore: the stored key is not a PKCS#8 PEM block: delete it and import or generate it again")
	}
	defer Wipe(block.Bytes)
	rk, err := parseStoredDER(block.Bytes)
	if err != nil {
		return nil, err
	}
	chain, err := storedChain(rest)
	if err != nil || len(chain) == 0 {
		return rk, err
	}
	return &certified{PrivateKey: rk, chain: chain}, nil
}
