package keystore

import (
	"context"
	"crypto/rsa"
	"os"
	"path/filepath"
	"testing"
)

// TestTPM2RefreshHandedKeyFile: inside the service the tpm2 store reads key files from the copies
// systemd made at start ($CREDENTIALS_DIRECTORY); after a rotation the reload hands the new key file
// over and Refresh makes it the key from then on, once it loads into this TPM and signs. A key file that
// is not one is refused and the key stays.
func TestTPM2RefreshHandedKeyFile(t *testing.T) {
	ctx := context.Background()
	dev, dir, creds := startSWTPM(t), t.TempDir(), t.TempDir()
	maker := newTestTPM2(t, dev, dir)
	old, err := maker.Generate(ctx, "old", 2048)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := maker.Generate(ctx, "new", 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := maker.Close(); err != nil { // the socket TPM serves one client at a time
		t.Fatal(err)
	}
	read := func(name string) []byte {
		data, err := os.ReadFile(TPM2KeyPath(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if err := os.WriteFile(filepath.Join(creds, SystemdCredName("maskinporten")), read("old"), 0o400); err != nil {
		t.Fatal(err)
	}
	svc, err := Open(Options{Backend: BackendTPM2, TPMDevice: dev, Dir: t.TempDir(), CredentialsDir: creds, InService: true})
	if err != nil {
		t.Fatal(err)
	}
	defer Close(svc)
	s := svc.(*TPM2)
	is := func(want *rsa.PublicKey) bool {
		k, err := s.Signer(ctx, "maskinporten")
		return err == nil && k.Public().(*rsa.PublicKey).Equal(want)
	}
	if !is(old.Public().(*rsa.PublicKey)) {
		t.Fatal("the service does not start with the key systemd copied")
	}
	if err := s.Refresh("maskinporten", []byte("not a key file")); err == nil || !is(old.Public().(*rsa.PublicKey)) {
		t.Errorf("a bad key file: %v; want refused and the old key kept", err)
	}
	if err := s.Refresh("maskinporten", read("new")); err != nil {
		t.Fatal(err)
	}
	if !is(nw.Public().(*rsa.PublicKey)) {
		t.Error("after Refresh the store still gives the key systemd copied at start")
	}
}
