package packaging

import (
	"os"
	"testing"
)

// TestSystemdLaneTPM2 is where the systemd lane would run the packaged service with a tpm2 key (issue
// 19): a TPM character device in the container, the unit's DeviceAllow=/dev/tpmrm0 rw, BindPaths= and
// SupplementaryGroups=tss under real systemd. It needs a TPM device the host kernel makes for a software
// TPM: /dev/vtpmx (tpm_vtpm_proxy, "swtpm chardev --vtpm-proxy", which gives /dev/tpmrmN) or /dev/cuse
// (CUSE, "swtpm chardev --dev-name", a raw TPM device but no resource manager). The CI machines this lane
// was written on (Firecracker kernel 6.18, no loadable modules) have neither, so it skips and says so.
// What runs instead: the rendered unit (installer: golden file, systemd-analyze verify and security,
// exposure 1.1), and the backend and "agent run" against swtpm's socket (keystore TestTPM2*, cmd/agent
// TestTPM2KeysAndRun).
func TestSystemdLaneTPM2(t *testing.T) {
	if os.Getenv("SYSTEMD_LANE") == "" {
		t.Skip("SYSTEMD_LANE is not set: scripts/systemd-lane runs this test")
	}
	_, vtpm := os.Stat("/dev/vtpmx")
	_, cuse := os.Stat("/dev/cuse")
	if vtpm != nil && cuse != nil {
		t.Skip("no /dev/vtpmx (tpm_vtpm_proxy) and no /dev/cuse (CUSE) on this kernel: swtpm cannot make a TPM character device, so the service's tpm2 device access (DeviceAllow=/dev/tpmrm0 rw, BindPaths=, SupplementaryGroups=tss) cannot be exercised under systemd here; the unit is checked by the installer tests and the backend against swtpm's socket")
	}
	t.Skip("this kernel can make a TPM character device, but the tpm2 stage (swtpm chardev --vtpm-proxy, then the packaged service with backend tpm2) is not written yet: it could not be run where the lane was built")
}
