package installer

import "fmt"

// ReloadSocketName is the file name of the Linux reload socket in the service's runtime directory
// (RuntimeDirectory=<name>, so /run/<name>; systemd hands the service $RUNTIME_DIRECTORY).
const ReloadSocketName = "reload.sock"

// ReloadSocketPath is where the running service name listens for reloads on Linux.
func ReloadSocketPath(name string) string { return "/run/" + name + "/" + ReloadSocketName }

// reloader is a backend that can ask the service manager for a reload.
type reloader interface{ reload() error }

// Reload asks the service manager to reload the running service (systemctl reload: the unit's
// ExecReload hands the service its configuration and key). Service managers without a reload action
// (the Windows SCM: the reload travels on the key hand-over pipe) return an error saying so.
func (i *Installer) Reload() error {
	if r, ok := i.b.(reloader); ok {
		return r.reload()
	}
	return fmt.Errorf("reload the service: %s has no reload action: use agent service reload", i.o.Name)
}
