package keystore

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode"
)

// BackendWindowsCert is the windows-cert backend: a certificate in the Windows LocalMachine\My store,
// selected by SHA-1 thumbprint, whose private key signs through CNG and never enters the agent's memory.
const BackendWindowsCert = "windows-cert"

// parseThumbprint reads a SHA-1 certificate thumbprint as certlm.msc or PowerShell show it: 40 hex
// digits, upper or lower case, with spaces or colons between them. certlm.msc's Details tab copies an
// invisible left-to-right mark in front; that is dropped too.
func parseThumbprint(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == ':' || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha1.Size {
		return nil, fmt.Errorf("keystore windows-cert: %q is not a certificate thumbprint: give the SHA-1 thumbprint, 40 hex digits, as certlm.msc shows it (Details → Thumbprint) or as Get-ChildItem Cert:\\LocalMachine\\My lists it", s)
	}
	return b, nil
}

// certSigner is a certificate's private key in a Windows key storage provider (signing through CNG)
// with the certificate's chain, leaf first.
type certSigner struct {
	key        crypto.Signer
	chain      []*x509.Certificate
	exportable bool
	provider   string
}

// newCertSigner checks that key belongs to chain's leaf, the certificate with thumbprint thumb, and that
// it is an RSA key Maskinporten takes.
func newCertSigner(key crypto.Signer, chain []*x509.Certificate, thumb []byte, exportable bool, provider string) (*certSigner, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("keystore windows-cert: no certificate with thumbprint %X", thumb)
	}
	leaf := chain[0]
	if sum := sha1.Sum(leaf.Raw); !strings.EqualFold(hex.EncodeToString(sum[:]), hex.EncodeToString(thumb)) {
		return nil, fmt.Errorf("keystore windows-cert: the chain Windows built starts with %X, not the certificate %X", sum, thumb)
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("keystore windows-cert: the certificate %X has a %T key; Maskinporten needs RSA (RS256): use an RSA enterprise certificate: %w", thumb, key.Public(), ErrUnsupportedKey)
	}
	if bits := pub.N.BitLen(); bits < minBits {
		return nil, fmt.Errorf("keystore windows-cert: the certificate %X has an RSA-%d key; Maskinporten needs at least %d bits: %w", thumb, bits, minBits, ErrUnsupportedKey)
	}
	if !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("keystore windows-cert: the private key Windows returned for certificate %X is not the certificate's key: re-import the PKCS#12 file", thumb)
	}
	return &certSigner{key: key, chain: chain, exportable: exportable, provider: provider}, nil
}

// Public implements crypto.Signer.
func (c *certSigner) Public() crypto.PublicKey { return c.key.Public() }

// Sign implements crypto.Signer: RS256 only (PKCS#1 v1.5 over a SHA-256 digest).
func (c *certSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 || len(digest) != crypto.SHA256.Size() {
		return nil, fmt.Errorf("keystore windows-cert: the certificate's key signs RS256 only (PKCS#1 v1.5 over a SHA-256 digest); got %v", opts.HashFunc())
	}
	sig, err := c.key.Sign(rand, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keystore windows-cert: sign through CNG (%s): %w", c.provider, err)
	}
	return sig, nil
}

// CertificateChain implements Chainer.
func (c *certSigner) CertificateChain() []*x509.Certificate { return c.chain }

// WindowsCert is the windows-cert store: one certificate, chosen by thumbprint in config. The agent
// neither makes nor stores keys here: enrol for the certificate (or import its PKCS#12 file without
// marking the key exportable) with Windows' own tools, then name its thumbprint.
type WindowsCert struct {
	thumb []byte
	open  func(thumb []byte) (*certSigner, error)

	mu     sync.Mutex
	signer *certSigner // opened once: the key handle lives with the certificate context
}

// get opens the certificate's key once.
func (w *WindowsCert) get() (*certSigner, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.signer != nil {
		return w.signer, nil
	}
	s, err := w.open(w.thumb)
	if err != nil {
		return nil, err
	}
	w.signer = s
	return s, nil
}

// Backend implements Store.
func (w *WindowsCert) Backend() string { return BackendWindowsCert }

// describe implements describer: exportability as the key storage provider reports it.
func (w *WindowsCert) describe() Description {
	d := Description{Backend: BackendWindowsCert, Exportable: true, Where: fmt.Sprintf("Windows certificate store LocalMachine\\My, certificate %X", w.thumb)}
	if s, err := w.get(); err == nil {
		d.Exportable = s.exportable
		d.Where += " (" + s.provider + ")"
	}
	return d
}

const windowsCertNoWrite = "the windows-cert backend uses a certificate that is already in the LocalMachine\\My store: import the enterprise certificate's PKCS#12 file there without marking the key exportable (certlm.msc → Import, or Import-PfxCertificate -CertStoreLocation Cert:\\LocalMachine\\My), give the service account read access to its private key (Manage Private Keys), and set maskinporten.key.thumbprint"

// Generate implements Store by refusing: the certificate comes from the issuer's enrolment.
func (w *WindowsCert) Generate(context.Context, string, int) (crypto.Signer, error) {
	return nil, fmt.Errorf("keystore windows-cert: generating is not offered: %s: %w", windowsCertNoWrite, ErrNoImport)
}

// Put implements Store by refusing: Windows imports the certificate itself.
func (w *WindowsCert) Put(context.Context, string, crypto.Signer) error {
	return fmt.Errorf("keystore windows-cert: importing through the agent is not offered: %s: %w", windowsCertNoWrite, ErrNoImport)
}

// Signer implements Store: the configured certificate's key, whatever the name (the thumbprint
// selects it).
func (w *WindowsCert) Signer(_ context.Context, name string) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	return w.get()
}

// Delete implements Store by refusing: the certificate is managed in Windows.
func (w *WindowsCert) Delete(context.Context, string) error {
	return fmt.Errorf("keystore windows-cert: the certificate is managed in Windows (certlm.msc); remove it there if it is no longer needed")
}

// List implements Store: no names, since the thumbprint selects the certificate.
func (w *WindowsCert) List(context.Context) ([]string, error) { return []string{}, nil }

func newWindowsCert(thumbprint string) (*WindowsCert, error) {
	thumb, err := parseThumbprint(thumbprint)
	if err != nil {
		return nil, err
	}
	return &WindowsCert{thumb: thumb, open: openWindowsCert}, nil
}
