package keystore

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// ErrNoChain means the backend cannot keep an enterprise certificate chain with the key.
var ErrNoChain = errors.New("the backend cannot keep a certificate chain")

// Chainer is implemented by signers that carry an enterprise certificate chain: keys imported with
// ParseCertifiedKey and stored in a backend that keeps the chain (systemd-creds, file, memory), and the
// windows-cert backend's certificates.
type Chainer interface {
	// CertificateChain returns the chain, leaf first.
	CertificateChain() []*x509.Certificate
}

// certified is an RSA key with its certificate chain, leaf first.
type certified struct {
	*rsa.PrivateKey
	chain []*x509.Certificate
}

// CertificateChain implements Chainer.
func (c *certified) CertificateChain() []*x509.Certificate { return c.chain }

// Chain returns the certificate chain key carries (leaf first), or nil.
func Chain(key crypto.Signer) []*x509.Certificate {
	if c, ok := key.(Chainer); ok {
		return c.CertificateChain()
	}
	return nil
}

// ChainDER returns Chain(key) as DER, leaf first: what a grant's x5c header carries
// (tokens.ClientOptions.X5C).
func ChainDER(key crypto.Signer) [][]byte {
	var out [][]byte
	for _, c := range Chain(key) {
		out = append(out, c.Raw)
	}
	return out
}

// WithChain returns key carrying certs as its chain. The chain is put in order from the certificate
// whose public key is key's (the leaf) up through the issuers found in certs; certificates off that
// path are dropped. It fails if no certificate is key's.
func WithChain(key crypto.Signer, certs []*x509.Certificate) (crypto.Signer, error) {
	rk, err := rsaKey(key)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&rk.PublicKey) {
			chain = append(chain, c)
			break
		}
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("keystore: none of the %d certificates is for this key: export the key together with its own certificate (PKCS#12 from the certificate store): %w", len(certs), ErrUnsupportedKey)
	}
	for len(chain) <= len(certs) {
		last := chain[len(chain)-1]
		if bytes.Equal(last.RawIssuer, last.RawSubject) {
			break // self-signed: the root
		}
		var issuer *x509.Certificate
		for _, c := range certs {
			if bytes.Equal(c.RawSubject, last.RawIssuer) && last.CheckSignatureFrom(c) == nil {
				issuer = c
				break
			}
		}
		if issuer == nil {
			break
		}
		chain = append(chain, issuer)
	}
	return &certified{PrivateKey: rk, chain: chain}, nil
}

// ParseCertifiedKey is ParsePrivateKey for an enterprise certificate (virksomhetssertifikat): it also
// reads the certificates in the input — the PKCS#12 file's certificate and CA certificates, or the
// CERTIFICATE blocks of a PEM bundle — and returns the key carrying its chain (see WithChain). Input
// without certificates, or whose certificates are none of them the key's, gives the plain key, as
// ParsePrivateKey would.
func ParseCertifiedKey(data, password []byte) (crypto.Signer, error) {
	key, err := ParsePrivateKey(data, password)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		for rest := data; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type == "CERTIFICATE" {
				c, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return nil, fmt.Errorf("keystore: a CERTIFICATE block cannot be read (%v): export the certificate again: %w", err, ErrUnsupportedKey)
				}
				certs = append(certs, c)
			}
		}
	} else if _, cert, cas, err := pkcs12.DecodeChain(data, string(password)); err == nil && cert != nil {
		certs = append([]*x509.Certificate{cert}, cas...)
	}
	if len(certs) == 0 {
		return key, nil
	}
	k, err := WithChain(key, certs)
	if errors.Is(err, ErrUnsupportedKey) {
		return key, nil // no certificate is the key's: nothing to send as x5c
	}
	return k, err
}

// appendChainPEM appends key's chain to a stored PEM key as CERTIFICATE blocks.
func appendChainPEM(data []byte, key crypto.Signer) []byte {
	for _, c := range Chain(key) {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return data
}

// storedChain reads the CERTIFICATE blocks after a stored key.
func storedChain(rest []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return chain, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keystore: the certificate stored with the key cannot be read (%v): import the PKCS#12 file again", err)
		}
		chain = append(chain, c)
	}
}

// KeyOnly returns key without any certificate chain, for a backend that keeps keys alone (ErrNoChain).
func KeyOnly(key crypto.Signer) crypto.Signer {
	if c, ok := key.(*certified); ok {
		return c.PrivateKey
	}
	return key
}
