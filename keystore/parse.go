package keystore

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/youmark/pkcs8"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// supportedFormats is named in every "cannot read this" error.
const supportedFormats = "PEM (PKCS#1 \"RSA PRIVATE KEY\", PKCS#8 \"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\", legacy encrypted PEM), DER (PKCS#1, PKCS#8), a JWK with private members, or PKCS#12 (.p12/.pfx)"

// ParsePrivateKey reads an RSA private key of at least 2048 bits from data: PEM PKCS#1 or PKCS#8 (also
// encrypted PKCS#8 and legacy "Proc-Type: 4,ENCRYPTED" PEM), DER PKCS#1 or PKCS#8, a JWK (or a JWK set
// with one key) with private members, or PKCS#12 with password. A PEM file may also hold certificates;
// they are skipped.
//
// password may be nil. An encrypted input without one gives ErrPasswordNeeded (ask, then call again), a
// wrong one ErrWrongPassword; EC keys, RSA below 2048 bits and unknown formats give ErrUnsupportedKey.
// Errors never contain key bytes. ParsePrivateKey wipes the buffers it decodes into; data and password
// stay the caller's, who should Wipe them when done (D12).
func ParsePrivateKey(data []byte, password []byte) (crypto.Signer, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("keystore: the key input is empty: %w", ErrUnsupportedKey)
	case trimmed[0] == '{':
		return parseJWK(trimmed)
	case bytes.Contains(trimmed, []byte("-----BEGIN ")):
		return parsePEM(trimmed, password)
	default:
		// Binary input is not trimmed: a DER key may well end in a byte that looks like whitespace.
		return parseDER(data, password)
	}
}

// parsePEM finds the first private key block in data and reads it.
func parsePEM(data, password []byte) (crypto.Signer, error) {
	var seen []string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		key, err := parsePEMBlock(block, password)
		Wipe(block.Bytes)
		if err == nil || !errors.Is(err, errNotAKeyBlock) {
			return key, err
		}
		seen = append(seen, fmt.Sprintf("%q", block.Type))
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("keystore: the input has a PEM header but no readable PEM block: the file is damaged; export it again (supported: %s): %w", supportedFormats, ErrUnsupportedKey)
	}
	return nil, fmt.Errorf("keystore: the PEM input holds no private key (blocks: %s); supported: %s: %w", strings.Join(seen, ", "), supportedFormats, ErrUnsupportedKey)
}

// errNotAKeyBlock marks PEM blocks that are not private keys (certificates, parameters): skipped.
var errNotAKeyBlock = errors.New("not a private key block")

func parsePEMBlock(block *pem.Block, password []byte) (crypto.Signer, error) {
	switch block.Type {
	case "RSA PRIVATE KEY":
		//lint:ignore SA1019 legacy OpenSSL "Proc-Type: 4,ENCRYPTED" keys are still in use; we only decrypt them locally, once, to import.
		if x509.IsEncryptedPEMBlock(block) {
			return parseLegacyEncrypted(block, password)
		}
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keystore: the \"RSA PRIVATE KEY\" block is not valid PKCS#1 (%v): export the key again: %w", err, ErrUnsupportedKey)
		}
		return rsaKey(k)
	case "PRIVATE KEY":
		return parsePKCS8(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return parseEncryptedPKCS8(block.Bytes, password)
	case "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "DSA PRIVATE KEY":
		return nil, fmt.Errorf("keystore: a %q is not usable: Maskinporten needs an RSA key of at least 2048 bits (RS256); make one with \"agent keys generate\": %w", block.Type, ErrUnsupportedKey)
	}
	return nil, errNotAKeyBlock
}

func parsePKCS8(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keystore: the PKCS#8 key cannot be read (%v): export it again: %w", err, ErrUnsupportedKey)
	}
	return rsaKey(k)
}

func parseEncryptedPKCS8(der, password []byte) (crypto.Signer, error) {
	if len(password) == 0 {
		return nil, fmt.Errorf("keystore: the key is an encrypted PKCS#8 (\"ENCRYPTED PRIVATE KEY\"): %w", ErrPasswordNeeded)
	}
	k, _, err := pkcs8.ParsePrivateKey(der, password)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, "incorrect password") || strings.Contains(msg, "authentication failed") {
			return nil, fmt.Errorf("keystore: the password does not decrypt the encrypted PKCS#8 key: check the password (file) and try again: %w", ErrWrongPassword)
		}
		return nil, fmt.Errorf("keystore: the encrypted PKCS#8 key cannot be read (%v): re-export it with PBES2, e.g. \"openssl pkcs8 -topk8 -v2 aes-256-cbc\": %w", err, ErrUnsupportedKey)
	}
	return rsaKey(k)
}

func parseLegacyEncrypted(block *pem.Block, password []byte) (crypto.Signer, error) {
	if len(password) == 0 {
		return nil, fmt.Errorf("keystore: the key is an encrypted PEM (Proc-Type: 4,ENCRYPTED): %w", ErrPasswordNeeded)
	}
	//lint:ignore SA1019 see parsePEMBlock: legacy encrypted PEM import only.
	der, err := x509.DecryptPEMBlock(block, password)
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("keystore: the password does not decrypt the PEM key: check it and try again: %w", ErrWrongPassword)
		}
		return nil, fmt.Errorf("keystore: the encrypted PEM key cannot be decrypted (%v): export it again: %w", err, ErrUnsupportedKey)
	}
	defer Wipe(der)
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		// Legacy PEM has no integrity check: a wrong password often only shows here.
		return nil, fmt.Errorf("keystore: the PEM key did not decrypt to a valid key: the password is most likely wrong (or the file is damaged): %w", ErrWrongPassword)
	}
	return rsaKey(k)
}

// parseDER reads binary input: PKCS#8, PKCS#1 or PKCS#12.
func parseDER(der, password []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return rsaKey(k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return rsaKey(k)
	}
	return parsePKCS12(der, password)
}

func parsePKCS12(der, password []byte) (crypto.Signer, error) {
	// go-pkcs12 takes the password as a string, which cannot be wiped (doc.go, D12).
	k, _, _, err := pkcs12.DecodeChain(der, string(password))
	switch {
	case err == nil:
		return rsaKey(k)
	case errors.Is(err, pkcs12.ErrIncorrectPassword) && len(password) == 0:
		return nil, fmt.Errorf("keystore: the key is a password-protected PKCS#12 file: %w", ErrPasswordNeeded)
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, fmt.Errorf("keystore: the password does not open the PKCS#12 file: check it and try again: %w", ErrWrongPassword)
	}
	// The parsers' messages for binary garbage are ASN.1 internals; name the formats instead.
	return nil, fmt.Errorf("keystore: the input is not a key this agent reads (not PEM, JSON, DER PKCS#1/PKCS#8 or PKCS#12, or a damaged one); supported: %s: %w", supportedFormats, ErrUnsupportedKey)
}

// parseJWK reads a JWK, or a JWK set holding exactly one key, with private members.
func parseJWK(data []byte) (crypto.Signer, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("keystore: the JSON input is not valid JSON (%s): %w", jsonErrPlace(err), ErrUnsupportedKey)
	}
	if set.Keys != nil {
		if len(set.Keys) != 1 {
			return nil, fmt.Errorf("keystore: the JWK set holds %d keys: import one JWK at a time: %w", len(set.Keys), ErrUnsupportedKey)
		}
		data = set.Keys[0]
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("keystore: the JWK cannot be read (%s): export it again with its private members: %w", jsonErrPlace(err), ErrUnsupportedKey)
	}
	if jwk.IsPublic() {
		return nil, fmt.Errorf("keystore: the JWK is a public key (no \"d\", \"p\", \"q\"): import the private JWK: %w", ErrUnsupportedKey)
	}
	return rsaKey(jwk.Key)
}

// jsonErrPlace describes a JSON error without quoting the input: a syntax error's text names the
// offending character, which could be key material.
func jsonErrPlace(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "go-jose/go-jose: ") {
		return msg
	}
	return "unreadable JSON"
}
