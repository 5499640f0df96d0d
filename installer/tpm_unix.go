//go:build !windows

package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// TPMAccessFor returns the unit's access to the TPM resource manager device (backend tpm2): the device
// and the group that owns it, which the service joins. It refuses a missing device, one that is not a
// TPM resource manager, and one only root may open, each with the fix.
func TPMAccessFor(device string) (*TPMAccess, error) {
	if !tpmDeviceRE.MatchString(device) {
		return nil, fmt.Errorf("TPM device %q is not a TPM resource manager: use /dev/tpmrm0", device)
	}
	fi, err := os.Stat(device)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("there is no TPM at %s: enable the TPM 2.0 in the firmware and load its driver (tpm_crb or tpm_tis), or use key backend systemd-creds", device)
	}
	if err != nil {
		return nil, fmt.Errorf("TPM device %s: %w", device, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&fs.ModeCharDevice == 0 || !ok {
		return nil, fmt.Errorf("%s is not a character device: use the TPM resource manager, /dev/tpmrm0", device)
	}
	if st.Gid == 0 || fi.Mode().Perm()&0o060 != 0o060 {
		return nil, fmt.Errorf("%s is open to root only (mode %o, group %d): the service's account needs a group that may use it; install the udev rules that give it to group tss (Debian: apt-get install tpm-udev), then reload them (udevadm trigger)", device, fi.Mode().Perm(), st.Gid)
	}
	g, err := user.LookupGroupId(strconv.FormatUint(uint64(st.Gid), 10))
	if err != nil {
		return nil, fmt.Errorf("%s belongs to group %d, which has no name: give the device a named group (Debian: apt-get install tpm-udev, group tss): %w", device, st.Gid, err)
	}
	return &TPMAccess{Device: device, Group: g.Name}, nil
}
