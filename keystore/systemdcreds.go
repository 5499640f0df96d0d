package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// DefaultCredStoreDir is where systemd looks for encrypted credentials and where the systemd-creds
// backend writes them.
const DefaultCredStoreDir = "/etc/credstore.encrypted"

// credPrefix namespaces our credentials in the shared credential store.
const credPrefix = "systemuser-agent-"

// SystemdCredName is the systemd credential name of key name: the name embedded in the encrypted file
// and the ID in the unit's LoadCredentialEncrypted=<id>:<path> (and the file name in
// $CREDENTIALS_DIRECTORY inside the service).
func SystemdCredName(name string) string { return credPrefix + name }

// SystemdCredPath is the encrypted credential file of key name in dir ("" means DefaultCredStoreDir).
// The installer writes LoadCredentialEncrypted=SystemdCredName(name):SystemdCredPath(dir, name).
func SystemdCredPath(dir, name string) string {
	if dir == "" {
		dir = DefaultCredStoreDir
	}
	return filepath.Join(dir, SystemdCredName(name)+".cred")
}

// SystemdCreds keeps each key as a systemd encrypted credential (systemd-creds encrypt --with-key=auto:
// TPM2 where present, else the host key /var/lib/systemd/credential.secret; AES-256-GCM). The plain key
// goes to systemd-creds on stdin and comes back on stdout, never through argv, the environment or a
// temporary file. Inside the service (LoadCredentialEncrypted=), keys are read from the directory
// systemd decrypted them into ($CREDENTIALS_DIRECTORY), which is read-only.
//
// Writing needs root (the host key is root-only); the hardened service never writes.
type SystemdCreds struct {
	dir      string // encrypted credentials, written by us
	credsDir string // $CREDENTIALS_DIRECTORY, read-only; "" outside the service
	tool     string
	mu       sync.Mutex
	handed   map[string]crypto.Signer // keys a reload handed over (Refresh), newer than credsDir's copies
}

func newSystemdCreds(dir, credsDir, tool string) (*SystemdCreds, error) {
	if dir == "" {
		dir = DefaultCredStoreDir
	}
	if tool == "" {
		tool = "systemd-creds"
	}
	if !strings.ContainsRune(tool, os.PathSeparator) {
		p, err := exec.LookPath(tool)
		if err != nil && credsDir == "" {
			return nil, fmt.Errorf("keystore systemd-creds: %s is not installed (%v): it comes with systemd 250 or later (Debian 12: package systemd); on a machine without systemd use backend keyring: %w", tool, err, ErrUnavailable)
		}
		tool = p
	}
	return &SystemdCreds{dir: dir, credsDir: credsDir, tool: tool}, nil
}

// Backend implements Store.
func (s *SystemdCreds) Backend() string { return "systemd-creds" }

// Dir is the directory holding the encrypted credentials.
func (s *SystemdCreds) Dir() string { return s.dir }

// Generate implements Store.
func (s *SystemdCreds) Generate(ctx context.Context, name string, bits int) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	key, err := generateRSA(bits)
	if err != nil {
		return nil, err
	}
	if err := s.Put(ctx, name, key); err != nil {
		return nil, err
	}
	return key, nil
}

// Put implements Store: it encrypts the key, writes the credential 0600 without replacing an existing
// one, then decrypts it again and checks it holds the same key (D18).
func (s *SystemdCreds) Put(ctx context.Context, name string, key crypto.Signer) error {
	if err := CheckName(name); err != nil {
		return err
	}
	pemKey, err := marshalPEM(key)
	if err != nil {
		return err
	}
	defer Wipe(pemKey)
	path := SystemdCredPath(s.dir, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("keystore systemd-creds: %q (%s): %w", name, path, ErrExists)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("keystore systemd-creds: create %s: %w (run as root)", s.dir, err)
	}
	var ct bytes.Buffer
	if err := s.run(ctx, &ct, bytes.NewReader(pemKey), "encrypt", "--with-key=auto", "--name="+SystemdCredName(name), "-", "-"); err != nil {
		return fmt.Errorf("keystore systemd-creds: encrypt %q: %w", name, err)
	}
	if err := writeNew(path, ct.Bytes()); err != nil {
		return fmt.Errorf("keystore systemd-creds: %q: %w", name, err)
	}
	back, err := s.decrypt(ctx, name, path)
	if err == nil && !back.Public().(*rsa.PublicKey).Equal(key.Public()) {
		err = errors.New("it decrypts to a different key")
	}
	if err == nil && len(Chain(back)) != len(Chain(key)) {
		err = errors.New("its certificate chain did not read back")
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("keystore systemd-creds: the credential written for %q does not read back (%v); nothing was kept: check systemd-creds setup (systemd-creds setup; TPM2) and retry", name, err)
	}
	return nil
}

// Signer implements Store.
func (s *SystemdCreds) Signer(ctx context.Context, name string) (crypto.Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if k := s.handedKey(name); k != nil {
		return k, nil
	}
	if s.credsDir != "" {
		data, err := os.ReadFile(filepath.Join(s.credsDir, SystemdCredName(name)))
		if err == nil {
			defer Wipe(data)
			return parseStoredPEM(data)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keystore systemd-creds: read credential %q from $CREDENTIALS_DIRECTORY: %w", SystemdCredName(name), err)
		}
	}
	path := SystemdCredPath(s.dir, name)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keystore systemd-creds: %q: no %s: %w", name, path, ErrNotFound)
	}
	return s.decrypt(ctx, name, path)
}

// decrypt reads key name's credential at path (always SystemdCredPath(s.dir, name)) in memory.
func (s *SystemdCreds) decrypt(ctx context.Context, name, _ string) (crypto.Signer, error) {
	data, err := s.Credential(ctx, name)
	if err != nil {
		return nil, err
	}
	defer Wipe(data[:cap(data)])
	return parseStoredPEM(data)
}

// Delete implements Store.
func (s *SystemdCreds) Delete(_ context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return removeCredFile("systemd-creds", name, SystemdCredPath(s.dir, name))
}

// removeCredFile deletes the file that holds key name for a backend that keeps one file per key in a
// credential store directory (systemd-creds, tpm2).
func removeCredFile(backend, name, path string) error {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keystore %s: %q: no %s: %w", backend, name, path, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("keystore %s: delete %s: %w (run as root)", backend, path, err)
	}
	return nil
}

// List implements Store: the credentials in the store directory and, inside the service, those systemd
// loaded.
func (s *SystemdCreds) List(context.Context) ([]string, error) {
	return listCredFiles(nil, "systemd-creds", s.dir, ".cred", s.credsDir)
}

// listCredFiles appends to names the keys stored as <credPrefix><name><suffix> in dir and, inside the
// service (credsDir set), those systemd loaded as <credPrefix><name>; sorted, without duplicates.
func listCredFiles(names []string, backend, dir, suffix, credsDir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keystore %s: list %s: %w", backend, dir, err)
	}
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), credPrefix)
		if n, ok2 := strings.CutSuffix(n, suffix); ok && ok2 && CheckName(n) == nil {
			names = append(names, n)
		}
	}
	if credsDir != "" {
		entries, _ := os.ReadDir(credsDir)
		for _, e := range entries {
			if n, ok := strings.CutPrefix(e.Name(), credPrefix); ok && CheckName(n) == nil {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// run runs systemd-creds with stdin and stdout wired to memory; stderr (never secret) goes into the error.
func (s *SystemdCreds) run(ctx context.Context, stdout *bytes.Buffer, stdin *bytes.Reader, args ...string) error {
	cmd := exec.CommandContext(ctx, s.tool, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_LOG_LEVEL=err"}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		hint := "check that systemd-creds works (systemd-creds setup; systemd-creds has-tpm2)"
		if os.Geteuid() != 0 {
			hint = "run as root (the host key is readable by root only)"
		}
		return fmt.Errorf("%s %s: %v: %s; %s", filepath.Base(s.tool), args[0], err, strings.TrimSpace(stderr.String()), hint)
	}
	return nil
}
