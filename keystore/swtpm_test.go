package keystore

import (
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// startSWTPM starts a software TPM 2.0 with fresh state for the test (realdeps.SWTPM) and returns its
// device string for Options.TPMDevice.
func startSWTPM(t *testing.T) string {
	t.Helper()
	return SWTPMDevice("127.0.0.1", realdeps.SWTPM(t))
}

// newTestTPM2 opens a tpm2 store on device with its key files in dir, closed with the test.
func newTestTPM2(t *testing.T, device, dir string) *TPM2 {
	t.Helper()
	s, err := Open(Options{Backend: BackendTPM2, TPMDevice: device, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Close(s) })
	return s.(*TPM2)
}
