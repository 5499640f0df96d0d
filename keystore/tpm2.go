package keystore

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// DefaultTPM2Dir is where the tpm2 backend writes its key files: systemd's directory of plain
// credentials, so the unit loads them with LoadCredential= like the systemd-creds backend's.
const DefaultTPM2Dir = "/etc/credstore"

// tpm2KeySuffix ends the name of a TPM key file.
const tpm2KeySuffix = ".tpm2key"

// TPM2KeyPath is the key file of key name in dir ("" means DefaultTPM2Dir). The installer writes
// LoadCredential=SystemdCredName(name):TPM2KeyPath(dir, name).
func TPM2KeyPath(dir, name string) string {
	if dir == "" {
		dir = DefaultTPM2Dir
	}
	return filepath.Join(dir, SystemdCredName(name)+tpm2KeySuffix)
}

// TPM2 keeps each key inside the machine's TPM 2.0 (doc.go): an RSA-2048 signing key made by the TPM
// under the owner hierarchy's storage key, with fixedTPM and fixedParent set, so the TPM never lets its
// private part out. What is saved (TPM2KeyPath) is the key file the TPM returned: the public part and the
// private part encrypted under this TPM's storage key, which no other TPM (and nothing outside a TPM)
// can load. Signers sign inside the TPM. Importing a key is refused (ErrNoImport).
type TPM2 struct {
	dir      string // key files, written by us (root)
	credsDir string // $CREDENTIALS_DIRECTORY inside the service: key files read from here first
	device   string

	mu     sync.Mutex // one command at a time on the connection
	tpm    transport.TPMCloser
	srk    tpm2.TPMHandle
	srkNam tpm2.TPM2BName
	handed map[string][]byte // key files a reload handed over (Refresh), newer than credsDir's copies
}

// ErrNoImport means the backend makes its keys itself and does not take an existing one.
var ErrNoImport = errors.New("the backend does not take imported keys")

func newTPM2(dir, credsDir, device string) (*TPM2, error) {
	if dir == "" {
		dir = DefaultTPM2Dir
	}
	if device == "" {
		device = DefaultTPMDevice
	}
	t, err := openTPM(device)
	if err != nil {
		return nil, err
	}
	s := &TPM2{dir: dir, credsDir: credsDir, device: device, tpm: t}
	if IsSoftwareTPM(device) {
		// A software TPM socket has no resource manager: objects a previous client left loaded stay
		// and fill the TPM's few slots. The socket is the test's own TPM, so clear them.
		flushTransient(t)
	}
	if err := s.loadSRK(); err != nil {
		t.Close()
		return nil, err
	}
	return s, nil
}

// Backend implements Store.
func (s *TPM2) Backend() string { return BackendTPM2 }

// Device is the TPM device (or software TPM socket) the store talks to.
func (s *TPM2) Device() string { return s.device }

// Dir is the directory holding the key files.
func (s *TPM2) Dir() string { return s.dir }

// Close flushes the storage key from the TPM and closes the device.
func (s *TPM2) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tpm == nil {
		return nil
	}
	_, _ = tpm2.FlushContext{FlushHandle: s.srk}.Execute(s.tpm)
	err := s.tpm.Close()
	s.tpm = nil
	return err
}

// describe implements describer.
func (s *TPM2) describe() Description {
	return Description{Backend: BackendTPM2, Exportable: false, Where: "TPM 2.0 at " + s.device}
}

// loadSRK makes the owner hierarchy's storage key from the TCG ECC P-256 SRK template. It is derived
// from the hierarchy's seed, so it is the same key every time until the TPM's owner is cleared.
func (s *TPM2) loadSRK() error {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(s.tpm)
	if errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail) {
		return fmt.Errorf("keystore tpm2: the TPM at %s refused its owner hierarchy (%v): the agent needs the owner hierarchy with an empty password (the default); clear the owner password (tpm2_changeauth -c owner) or use backend systemd-creds: %w", s.device, err, ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("keystore tpm2: make the storage key on the TPM at %s: %w", s.device, err)
	}
	s.srk, s.srkNam = rsp.ObjectHandle, rsp.Name
	return nil
}

// signingTemplate is the key the TPM makes: RSA-2048 for RS256 only (RSASSA PKCS#1 v1.5, SHA-256),
// non-duplicable (fixedTPM, fixedParent), generated inside the TPM (sensitiveDataOrigin), used with an
// empty password (userWithAuth), for signing and nothing else.
var signingTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgRSA,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true, SignEncrypt: true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
		Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
		Scheme: tpm2.TPMTRSAScheme{
			Scheme:  tpm2.TPMAlgRSASSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSASSA, &tpm2.TPMSSigSchemeRSASSA{HashAlg: tpm2.TPMAlgSHA256}),
		},
		KeyBits: 2048,
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: make([]byte, 256)}),
}

// Generate implements Store: the TPM makes the key; only its public part and its TPM-wrapped private
// part (the key file) leave the TPM. Only RSA-2048 is offered: it is what Maskinporten documents and
// what every TPM 2.0 supports.
func (s *TPM2) Generate(_ context.Context, name string, bits int) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if bits != 2048 {
		return nil, fmt.Errorf("keystore tpm2: RSA-%d is not offered: the TPM makes RSA-2048 keys (what Maskinporten documents and every TPM 2.0 supports): use --bits 2048", bits)
	}
	path := TPM2KeyPath(s.dir, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("keystore tpm2: %q (%s): %w", name, path, ErrExists)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("keystore tpm2: create %s: %w (run as root)", s.dir, err)
	}
	rsp, err := tpm2.Create{
		ParentHandle: tpm2.AuthHandle{Handle: s.srk, Name: s.srkNam, Auth: tpm2.PasswordAuth(nil)},
		InPublic:     tpm2.New2B(signingTemplate),
	}.Execute(s.tpm)
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: the TPM at %s did not make the key: %w", s.device, err)
	}
	blob := tpmBlob{public: rsp.OutPublic, private: rsp.OutPrivate}
	k, err := s.check(name, blob, path)
	if err != nil {
		return nil, err
	}
	data, err := encodeTPMBlob(blob)
	if err != nil {
		return nil, err
	}
	if err := writeNew(path, data); err != nil {
		return nil, fmt.Errorf("keystore tpm2: %q: %w", name, err)
	}
	return k, nil
}

// Put implements Store by refusing: a key imported into the TPM has copies outside it.
func (s *TPM2) Put(_ context.Context, name string, _ crypto.Signer) error {
	if err := CheckName(name); err != nil {
		return err
	}
	return fmt.Errorf("keystore tpm2: importing a key into the TPM is refused: the point of backend tpm2 is that the private key is made inside the TPM and no copy of it exists anywhere, and an imported key has copies (the file it came from, its backups); generate the key in the TPM instead (agent keys generate --backend tpm2) and register its public JWK, or keep the imported key in backend systemd-creds: %w", ErrNoImport)
}

// Signer implements Store: it reads the key file and loads it into the TPM once, so a key file from
// another TPM is refused here (before the service starts), not at the first grant.
func (s *TPM2) Signer(_ context.Context, name string) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	data, path, err := s.readKeyFile(name)
	if err != nil {
		return nil, err
	}
	blob, err := decodeTPMBlob(data, path)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	return s.check(name, blob, path)
}

// readKeyFile reads name's key file: from $CREDENTIALS_DIRECTORY inside the service, else from dir.
func (s *TPM2) readKeyFile(name string) ([]byte, string, error) {
	s.mu.Lock()
	data, ok := s.handed[name]
	s.mu.Unlock()
	if ok {
		return data, "the key file handed over for " + SystemdCredName(name), nil
	}
	if s.credsDir != "" {
		p := filepath.Join(s.credsDir, SystemdCredName(name))
		data, err := os.ReadFile(p)
		if err == nil {
			return data, p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("keystore tpm2: read credential %q from $CREDENTIALS_DIRECTORY: %w", SystemdCredName(name), err)
		}
	}
	p := TPM2KeyPath(s.dir, name)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("keystore tpm2: %q: no %s: %w", name, p, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("keystore tpm2: read %s: %w", p, err)
	}
	return data, p, nil
}

// check verifies a key file holds the kind of key Generate makes, loads it into the TPM, signs a test
// digest and verifies the signature with the key file's public key (D18). The caller holds s.mu.
func (s *TPM2) check(name string, blob tpmBlob, path string) (*tpm2Signer, error) {
	pub, err := blob.public.Contents()
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: %s: the public area does not parse: delete it and generate the key again", path)
	}
	a := pub.ObjectAttributes
	if pub.Type != tpm2.TPMAlgRSA || !a.FixedTPM || !a.FixedParent || !a.SensitiveDataOrigin || !a.SignEncrypt || a.Decrypt || a.Restricted {
		return nil, fmt.Errorf("keystore tpm2: refusing %s: it is not a non-exportable RSA signing key made inside the TPM (fixedTPM, fixedParent, sensitiveDataOrigin, sign): generate the key with \"agent keys generate --backend tpm2\"", path)
	}
	detail, err := pub.Parameters.RSADetail()
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: %s: %w", path, err)
	}
	unique, err := pub.Unique.RSA()
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: %s: %w", path, err)
	}
	rpub, err := tpm2.RSAPub(detail, unique)
	if err != nil {
		return nil, fmt.Errorf("keystore tpm2: %s: %w", path, err)
	}
	if bits := rpub.N.BitLen(); bits < minBits {
		return nil, fmt.Errorf("keystore tpm2: refusing %s: RSA-%d is too small; generate the key again: %w", path, bits, ErrUnsupportedKey)
	}
	k := &tpm2Signer{s: s, name: name, path: path, pub: rpub, blob: blob}
	if _, err := k.signLocked(testDigest()); err != nil {
		return nil, err
	}
	return k, nil
}

// open reports a closed store. The caller holds s.mu.
func (s *TPM2) open() error {
	if s.tpm == nil {
		return fmt.Errorf("keystore tpm2: the store for %s is closed", s.device)
	}
	return nil
}

// Copy implements Copier: the key file is copied, so both names refer to the same TPM key (rotation).
func (s *TPM2) Copy(_ context.Context, from, to string) error {
	if err := CheckName(from); err != nil {
		return err
	}
	if err := CheckName(to); err != nil {
		return err
	}
	data, _, err := s.readKeyFile(from)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeNew(TPM2KeyPath(s.dir, to), data); err != nil {
		return fmt.Errorf("keystore tpm2: %q: %w", to, err)
	}
	return nil
}

// Delete implements Store. The TPM keeps nothing per key, so removing the key file destroys the key for
// good: no copy of its private part exists.
func (s *TPM2) Delete(_ context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return removeCredFile("tpm2", name, TPM2KeyPath(s.dir, name))
}

// List implements Store: the key files in the directory and, inside the service, those systemd loaded.
func (s *TPM2) List(context.Context) ([]string, error) {
	return listCredFiles([]string{}, "tpm2", s.dir, tpm2KeySuffix, s.credsDir)
}
