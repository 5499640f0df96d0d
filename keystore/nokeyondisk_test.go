package keystore

import (
	"context"
	"crypto/rsa"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoKeyOnDisk (D17): after generate and import with every backend that is not the dev-only file
// backend, no private key bytes — PEM, DER, base64 of DER, JWK members — are in any file under the test's
// directories, the temp entries created meanwhile, the keyring's own files, or in any error text.
func TestNoKeyOnDisk(t *testing.T) {
	backends := []struct {
		name string
		// open returns the store, the store holding the private keys (itself, or the service's), and
		// extra directories to scan.
		open func(t *testing.T) (Store, Store, []string)
	}{
		{"memory", func(t *testing.T) (Store, Store, []string) { s := NewMemory(); return s, s, nil }},
		{"systemd-creds", func(t *testing.T) (Store, Store, []string) {
			s := newTestSystemdCreds(t)
			return s, s, []string{s.Dir()}
		}},
		{"keyring", func(t *testing.T) (Store, Store, []string) {
			s := newTestKeyring(t)
			data := os.Getenv("XDG_DATA_HOME") // gnome-keyring keeps its files in $XDG_DATA_HOME/keyrings
			if data == "" {
				home, _ := os.UserHomeDir()
				data = filepath.Join(home, ".local", "share")
			}
			return s, s, []string{filepath.Join(data, "keyrings")}
		}},
		{"remote (Windows hand-over) to memory", func(t *testing.T) (Store, Store, []string) {
			mem := NewMemory()
			r, _ := serveTest(t, mem)
			return r, mem, nil
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			before := tempEntries(t)
			s, backing, dirs := b.open(t)
			ctx := context.Background()
			var errs []error

			if _, err := s.Generate(ctx, "generated", 2048); err != nil {
				t.Fatal(err)
			}
			imported := rsaTestKey(t, 3072)
			for _, f := range importFormats() {
				data := f.encode(t, imported)
				k, err := ParsePrivateKey(data, []byte(f.password))
				Wipe(data)
				if err != nil {
					t.Fatalf("%s: %v", f.name, err)
				}
				if err := s.Put(ctx, "imported", k); err != nil && !errors.Is(err, ErrExists) {
					t.Fatal(err)
				} else if err != nil {
					errs = append(errs, err)
				}
			}
			_, err := s.Generate(ctx, "generated", 2048)
			errs = append(errs, err)
			if _, err := s.Signer(ctx, "imported"); err != nil {
				t.Fatal(err)
			}
			_, _, err = Activate(ctx, s, "generated")
			errs = append(errs, err)

			scanned := 0
			for _, k := range []*rsa.PrivateKey{mustSigner(t, backing, "generated").(*rsa.PrivateKey), imported} {
				forms := secretForms(t, k)
				for _, dir := range append(dirs, t.TempDir(), filepath.Dir(t.TempDir())) {
					scanned += scanTree(t, dir, forms)
				}
				for _, p := range newTempEntries(t, before) {
					scanned += scanTree(t, p, forms)
				}
				for _, e := range errs {
					if e == nil {
						t.Fatal("an operation expected to fail succeeded")
					}
					assertNoSecret(t, "error "+e.Error(), []byte(e.Error()), forms)
				}
			}
			t.Logf("scanned %d files, %d errors", scanned, len(errs))
		})
	}
}

// TestSecretScannerFindsKeys is the positive control for TestNoKeyOnDisk: the scanner does find a key
// where one is, in each encoding a leak could take.
func TestSecretScannerFindsKeys(t *testing.T) {
	k := rsaTestKey(t, 2048)
	forms := secretForms(t, k)
	dir := t.TempDir()
	files := []string{"pkcs1.pem", "key.der", "entry.txt", "key.jwk"}
	if runtime.GOOS != "windows" { // Windows refuses the file backend (TestOpen)
		s, err := Open(Options{Backend: BackendFile, Dir: filepath.Join(dir, "file-backend"), AllowFile: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put(context.Background(), "k", k); err != nil {
			t.Fatal(err)
		}
		files = append(files, "file-backend/k.pem")
	}
	blob, err := keyringBlob(k)
	if err != nil {
		t.Fatal(err)
	}
	leaks := map[string][]byte{
		"pkcs1.pem": importFormats()[0].encode(t, k),
		"key.der":   pkcs8DER(t, k),
		"entry.txt": []byte("secret=" + blob + "\n"),
		"key.jwk":   privateJWK(t, k),
	}
	for name, data := range leaks {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hits, n := findSecrets(dir, forms)
	if n != len(files) {
		t.Fatalf("read %d files, want %d", n, len(files))
	}
	for _, want := range files {
		found := false
		for _, h := range hits {
			if strings.Contains(h, want+" (") {
				found = true
			}
		}
		if !found {
			t.Errorf("scanner missed the key in %s; hits: %v", want, hits)
		}
	}
}
