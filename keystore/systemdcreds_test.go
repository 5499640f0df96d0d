package keystore

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// requireSystemdCreds skips (locally) or fails (CI) unless systemd-creds can encrypt with the host key,
// which needs root.
func requireSystemdCreds(t testing.TB) string {
	t.Helper()
	tool := realdeps.Tool(t, "systemd-creds", "apt-get install systemd (252 or later)")
	realdeps.Require(t, os.Geteuid() == 0, "root (systemd-creds --with-key=auto uses the root-only host key)", "run the tests as root, as CI does")
	return tool
}

func newTestSystemdCreds(t testing.TB) *SystemdCreds {
	t.Helper()
	requireSystemdCreds(t)
	s, err := Open(Options{Backend: BackendSystemdCreds, Dir: filepath.Join(t.TempDir(), "credstore.encrypted")})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*SystemdCreds)
}

func TestSystemdCredsConformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return newTestSystemdCreds(t) })
}

// TestSystemdCredsFile checks the credential on disk: owner-only, named for LoadCredentialEncrypted=,
// and bound to its name (a renamed file does not decrypt as another key).
func TestSystemdCredsFile(t *testing.T) {
	s := newTestSystemdCreds(t)
	ctx := context.Background()
	if _, err := s.Generate(ctx, "maskinporten", 2048); err != nil {
		t.Fatal(err)
	}
	path := SystemdCredPath(s.Dir(), "maskinporten")
	if path != filepath.Join(s.Dir(), "systemuser-agent-maskinporten.cred") {
		t.Fatalf("credential path %s", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("credential mode %o, want 600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(s.Dir())
	if len(entries) != 1 {
		t.Fatalf("store holds %d entries, want 1 (no temp files)", len(entries))
	}
	// Copy the credential under another key's name: the embedded name must stop it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(SystemdCredPath(s.Dir(), "other"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Signer(ctx, "other")
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("renamed credential: got %v, want a name mismatch", err)
	}
}

// TestSystemdCredsInService reads keys as the service does: from $CREDENTIALS_DIRECTORY, where systemd
// put them decrypted (LoadCredentialEncrypted=). The test decrypts as systemd would, with the name as ID.
func TestSystemdCredsInService(t *testing.T) {
	tool := requireSystemdCreds(t)
	ctx := context.Background()
	admin := newTestSystemdCreds(t)
	k, err := admin.Generate(ctx, "maskinporten", 2048)
	if err != nil {
		t.Fatal(err)
	}
	credsDir := t.TempDir()
	out := filepath.Join(credsDir, SystemdCredName("maskinporten"))
	cmd := exec.Command(tool, "decrypt", "--name="+SystemdCredName("maskinporten"), SystemdCredPath(admin.Dir(), "maskinporten"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-creds decrypt: %v: %s", err, b)
	}
	// The service sees only $CREDENTIALS_DIRECTORY: its store directory is empty or unreadable.
	svc, err := Open(Options{Backend: BackendSystemdCreds, Dir: filepath.Join(t.TempDir(), "none"), CredentialsDir: credsDir})
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Signer(ctx, "maskinporten")
	if err != nil {
		t.Fatal(err)
	}
	verifyRS256(t, got, publicJWKOf(t, k))
	if names, err := svc.List(ctx); err != nil || !slices.Equal(names, []string{"maskinporten"}) {
		t.Fatalf("List in service = %v, %v", names, err)
	}
	if _, err := svc.Signer(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent key in service: %v", err)
	}
}

// TestSystemdCredsNoKeyInArgvOrEnv runs the backend through a wrapper that records systemd-creds'
// command line and environment, and checks the key never appears there.
func TestSystemdCredsNoKeyInArgvOrEnv(t *testing.T) {
	tool := requireSystemdCreds(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	wrapper := filepath.Join(dir, "systemd-creds-wrapper")
	script := "#!/bin/sh\n{ echo \"ARGV: $*\"; env; } >> " + log + "\nexec " + tool + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Backend: BackendSystemdCreds, Dir: filepath.Join(dir, "store"), SystemdCreds: wrapper})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := rsaTestKey(t, 2048)
	if err := s.Put(ctx, "mp", k); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signer(ctx, "mp"); err != nil {
		t.Fatal(err)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(calls), "ARGV: encrypt"); n != 1 {
		t.Fatalf("%d encrypt calls recorded, want 1:\n%s", n, calls)
	}
	if n := strings.Count(string(calls), "ARGV: decrypt"); n != 2 { // read-back check + Signer
		t.Fatalf("%d decrypt calls recorded, want 2:\n%s", n, calls)
	}
	assertNoSecret(t, "systemd-creds argv/env", calls, secretForms(t, k))
}

func TestSystemdCredsErrors(t *testing.T) {
	requireSystemdCreds(t)
	ctx := context.Background()
	s := newTestSystemdCreds(t)
	if err := s.Delete(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete absent: %v", err)
	}
	// A damaged credential is reported with the file, not as "not found".
	if err := os.MkdirAll(s.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(SystemdCredPath(s.Dir(), "broken"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Signer(ctx, "broken")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "systemd-creds") {
		t.Fatalf("damaged credential: %v", err)
	}
	if _, err := Open(Options{Backend: BackendSystemdCreds, SystemdCreds: "no-such-systemd-creds"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("missing tool: %v", err)
	}
}
