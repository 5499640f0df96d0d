package doctor

import (
	"errors"
	"io/fs"
	"os"

	"github.com/systemuser-agent/systemuser-agent/installer"
)

// CheckPermissions is the area of the permission findings (D19).
const CheckPermissions = "permissions"

// checkPerms reports a config file, its directory or the state directory that an account other than
// this one, root (SYSTEM, Administrators) and the service account could change (error: `agent run`
// refuses it), and a config readable by every account (warning: it names the callers).
func (r *run) checkPerms() {
	var trusted []string
	if r.o.ServiceAccount != "" {
		trusted = append(trusted, r.o.ServiceAccount)
	}
	report := func(what, path string) {
		err := installer.CheckWritable(path, trusted...)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return // reported by the config and state checks
		case err != nil:
			r.add(Finding{Check: CheckPermissions, Severity: SevError, Message: what + ": " + err.Error(),
				Fix:    "apply the fix named above; `agent run` refuses to start until then",
				Detail: map[string]string{"path": path}})
			return
		}
		r.add(Finding{Check: CheckPermissions, Severity: SevOK, Message: what + " " + path +
			": no other account can change it", Detail: map[string]string{"path": path}})
	}
	report("the config", r.o.ConfigPath)
	if fi, err := os.Stat(r.o.ConfigPath); err == nil && r.goos() != "windows" && fi.Mode().Perm()&0o004 != 0 {
		r.add(Finding{Check: CheckPermissions, Severity: SevWarning,
			Message: "the config " + r.o.ConfigPath + " is readable by every account; it holds no secret, but it names the callers and system users",
			Fix:     "chmod o-r " + r.o.ConfigPath + " (`agent service install` sets 0600)"})
	}
	if r.o.StateDir != "" {
		report("the state directory", r.o.StateDir)
	}
}
