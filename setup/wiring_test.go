package setup

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// TestServiceForKeyBackends: the unit gets the systemd-creds credential, or for tpm2 the key file and
// the TPM device; a software TPM or a missing device is refused before installing.
func TestServiceForKeyBackends(t *testing.T) {
	cfg := &config.Config{Listen: "127.0.0.1:7070", UnixSocket: "/run/systemuser-agent/token.sock",
		Maskinporten: config.Maskinporten{Key: config.KeyRef{Backend: config.BackendSystemdCreds, Name: "mp"}}}
	if runtime.GOOS != "windows" { // systemd credentials are Linux's; on Windows "/usr/bin/agent" is not even absolute
		inst, err := ServiceFor(installer.Options{Executable: "/usr/bin/agent", ConfigPath: "/etc/systemuser-agent/config.yaml"}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if o := inst.Options(); o.Credential == nil || o.Credential.Plain || o.Credential.Path != keystore.SystemdCredPath("", "mp") || o.TPM != nil || o.ListenPort != 7070 || o.UnixSocket != cfg.UnixSocket {
			t.Fatalf("systemd-creds: %+v", o)
		}
	}
	cfg.Maskinporten.Key = config.KeyRef{Backend: config.BackendTPM2, Name: "mp", Device: "swtpm:host=127.0.0.1,port=2321"}
	if _, err := ServiceFor(installer.Options{}, cfg); err == nil || !strings.Contains(err.Error(), "software TPM") {
		t.Errorf("software TPM: %v", err)
	}
	if runtime.GOOS == "windows" {
		return // backend tpm2 is Linux's; installer.TPMAccessFor says so on Windows
	}
	if _, err := os.Stat("/dev/tpmrm9"); err == nil {
		t.Skip("this machine has /dev/tpmrm9")
	}
	cfg.Maskinporten.Key.Device = "/dev/tpmrm9"
	if _, err := ServiceFor(installer.Options{}, cfg); err == nil || !strings.Contains(err.Error(), "no TPM at /dev/tpmrm9") {
		t.Errorf("missing TPM device: %v", err)
	}
}

// TestTokenClientX5C: grant_header x5c needs the key's certificate chain, and says how to get one.
func TestTokenClientX5C(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "EKSEMPEL AS"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	certified, err := keystore.WithChain(key, []*x509.Certificate{cert})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Environment: config.EnvTest, Maskinporten: config.Maskinporten{ClientID: "c", GrantHeader: config.GrantHeaderX5C,
		Key: config.KeyRef{Backend: config.BackendSystemdCreds, Name: "mp"}}}
	if _, err := TokenClient(cfg, key, "kid-1", nil, nil); err == nil || !strings.Contains(err.Error(), "no certificate chain") || !strings.Contains(err.Error(), "agent keys import") {
		t.Errorf("x5c without a chain: %v", err)
	}
	if _, err := TokenClient(cfg, certified, "kid-1", nil, nil); err != nil {
		t.Errorf("x5c with a chain: %v", err)
	}
	cfg.Maskinporten.GrantHeader = config.GrantHeaderKID
	if _, err := TokenClient(cfg, key, "kid-1", nil, nil); err != nil {
		t.Errorf("kid: %v", err)
	}
}
