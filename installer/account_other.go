//go:build !windows

package installer

// InstalledAccount is Windows only (the key hand-over's account); elsewhere it is "".
func InstalledAccount(name string) (string, error) { return "", nil }
