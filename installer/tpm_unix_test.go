//go:build !windows

package installer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTPMAccessFor: the device access is refused with the fix when there is no TPM, when the path is not a
// resource manager, and when the device is root's only. A real /dev/tpmrm0 with group tss is not on the
// test machines; the rendered unit for it is TestRenderSystemdUnitGolden/tpm2.
func TestTPMAccessFor(t *testing.T) {
	missing := "/dev/tpmrm9"
	if _, err := os.Stat(missing); err == nil {
		t.Skip("this machine has /dev/tpmrm9")
	}
	for _, c := range []struct{ device, want string }{
		{missing, "there is no TPM at /dev/tpmrm9"},
		{"/dev/null", "not a TPM resource manager"},
		{filepath.Join(t.TempDir(), "tpmrm0"), "not a TPM resource manager"},
	} {
		if _, err := TPMAccessFor(c.device); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.device, err, c.want)
		}
	}
	if fi, err := os.Stat("/dev/tpmrm0"); err == nil && fi.Mode().Perm()&0o060 == 0 {
		if _, err := TPMAccessFor("/dev/tpmrm0"); err == nil || !strings.Contains(err.Error(), "tpm-udev") {
			t.Errorf("root-only /dev/tpmrm0: got %v, want the tpm-udev fix", err)
		}
	}
}
