package setup

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// TestSetupTooBigKeyRefusedBeforeAnythingIsWritten: `agent setup` on Windows importing an RSA-4096 key
// into the keyring backend is refused with the limit and the fix before anything is written: no config
// file, no service installed (the fake installer was not asked), no state file, and no entry in
// Credential Manager, read back through the real wincred (under wine in the lane: its vault is real
// there, only per-account vaults are not, docs/windows-test-plan.md). The check that can see an entry
// is shown to see one.
func TestSetupTooBigKeyRefusedBeforeAnythingIsWritten(t *testing.T) {
	log := &orderLog{}
	var events []Event
	svc := &fakeService{}
	a, _ := orderActions(t, "", svc, log, &events)
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "setup-too-big-" + hex.EncodeToString(b[:])
	a.Config.Maskinporten.Key.Name = name
	big, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(big)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func() (keystore.Store, error) { return OpenKeyStore(a.Config.Maskinporten.Key, false, "") } // through the hand-over
	_, _, err = a.SaveConfigAndKey(context.Background(), cli, KeyStep{Name: name, Source: KeyImport, Input: KeyInput{File: keyFile}})
	if !errors.Is(err, keystore.ErrTooBig) {
		t.Fatalf("got %v; want ErrTooBig", err)
	}
	for _, part := range []string{"nothing was written", "RSA-4096", "2560", "Windows Credential Manager", "RSA-2048"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("the refusal %q does not say %q", err, part)
		}
	}
	if _, err := os.Stat(a.ConfigPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the config was written (%v)", err)
	}
	if _, err := os.Stat(config.StatePath(a.Service.StateDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a state file was written (%v)", err)
	}
	if got := log.get(); len(got) != 0 {
		t.Errorf("did %v before refusing", got)
	}
	// Credential Manager, as the service reads it: no entry and no index entry for the name.
	vault, err := OpenKeyStore(a.Config.Maskinporten.Key, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Signer(context.Background(), name); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Credential Manager entry %q: %v, want not found", name, err)
	}
	names, err := vault.List(context.Background())
	if err != nil || slices.Contains(names, name) {
		t.Errorf("Credential Manager lists %v (%v)", names, err)
	}
	// The same reads see an entry that is there.
	if _, err := vault.Generate(context.Background(), name, 2048); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = vault.Delete(context.Background(), name) }()
	if names, err := vault.List(context.Background()); err != nil || !slices.Contains(names, name) {
		t.Errorf("an RSA-2048 entry written directly is not listed: %v (%v)", names, err)
	}
}
