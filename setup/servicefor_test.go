package setup

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// TestServiceForKeyBackends: the unit gets the systemd-creds credential, or for tpm2 the key file and
// the TPM device; a software TPM or a missing device is refused before installing.
func TestServiceForKeyBackends(t *testing.T) {
	cfg := &config.Config{Listen: "127.0.0.1:7070", Maskinporten: config.Maskinporten{Key: config.KeyRef{Backend: config.BackendSystemdCreds, Name: "mp"}}}
	o, err := ServiceFor(installer.Options{}, cfg)
	if err != nil || o.Credential == nil || o.Credential.Plain || o.Credential.Path != keystore.SystemdCredPath("", "mp") || o.TPM != nil || o.ListenPort != 7070 {
		t.Fatalf("systemd-creds: %+v, %v", o, err)
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
