package installer

import "errors"

// TPMAccessFor is Linux-only: on Windows the windows-cert backend reaches the TPM through CNG.
func TPMAccessFor(string) (*TPMAccess, error) {
	return nil, errors.New("backend tpm2 and its device access are Linux-only; on Windows use backend windows-cert")
}
