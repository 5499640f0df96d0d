package keystore

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// flushTransient flushes every transient object on the TPM, best effort.
func flushTransient(t transport.TPM) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(tpm2.TPMHTTransient) << 24, PropertyCount: 64}.Execute(t)
	if err != nil {
		return
	}
	hs, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		return
	}
	for _, h := range hs.Handle {
		_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t)
	}
}

// tpm2Signer signs inside the TPM with one key file's key, loading it for each signature and flushing
// it after, so no TPM object slot stays taken.
type tpm2Signer struct {
	s    *TPM2
	name string
	path string
	pub  *rsa.PublicKey
	blob tpmBlob
}

// Public implements crypto.Signer.
func (k *tpm2Signer) Public() crypto.PublicKey { return k.pub }

// Sign implements crypto.Signer: RS256 only (RSASSA PKCS#1 v1.5 over a SHA-256 digest), as the key's
// scheme fixes inside the TPM.
func (k *tpm2Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss || opts.HashFunc() != crypto.SHA256 || len(digest) != crypto.SHA256.Size() {
		return nil, fmt.Errorf("keystore tpm2: key %q signs RS256 only (PKCS#1 v1.5 over a SHA-256 digest); got %v", k.name, opts.HashFunc())
	}
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	if err := k.s.open(); err != nil {
		return nil, err
	}
	return k.signLocked(digest)
}

// signLocked loads the key under the storage key, signs digest, flushes the key and verifies the
// signature with the public key. The caller holds k.s.mu.
func (k *tpm2Signer) signLocked(digest []byte) ([]byte, error) {
	s := k.s
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: s.srk, Name: s.srkNam, Auth: tpm2.PasswordAuth(nil)},
		InPrivate:    k.blob.private,
		InPublic:     k.blob.public,
	}.Execute(s.tpm)
	if errors.Is(err, tpm2.TPMRCIntegrity) {
		return nil, fmt.Errorf("keystore tpm2: the TPM at %s refuses to load key %q from %s (%v): the key file was made by another TPM (another machine, or this TPM before its owner was cleared), and a TPM key cannot move: generate a new key on this machine (agent keys generate --backend tpm2) and register its public JWK", s.device, k.name, k.path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: load key %q from %s into the TPM at %s: %w", k.name, k.path, s.device, err)
	}
	defer func() { _, _ = tpm2.FlushContext{FlushHandle: loaded.ObjectHandle}.Execute(s.tpm) }()
	rsp, err := tpm2.Sign{
		KeyHandle: tpm2.NamedHandle{Handle: loaded.ObjectHandle, Name: loaded.Name},
		Digest:    tpm2.TPM2BDigest{Buffer: digest},
		InScheme: tpm2.TPMTSigScheme{
			Scheme:  tpm2.TPMAlgRSASSA,
			Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgRSASSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
		},
		Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
	}.Execute(s.tpm)
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: sign with key %q on the TPM at %s: %w", k.name, s.device, err)
	}
	sig, err := rsp.Signature.Signature.RSASSA()
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: the TPM returned no RSASSA signature: %w", err)
	}
	if err := rsa.VerifyPKCS1v15(k.pub, crypto.SHA256, digest, sig.Sig.Buffer); err != nil {
		return nil, fmt.Errorf("keystore tpm2: the TPM's signature with key %q does not verify with the key file's public key %s: generate the key again", k.name, k.path)
	}
	return sig.Sig.Buffer, nil
}

// testDigest is a random SHA-256 digest for a test signature.
func testDigest() []byte {
	d := sha256.Sum256([]byte(rand.Text()))
	return d[:]
}
