//go:build !linux && !windows

package installer

// beforeInstall has nothing to prepare on macOS (development only).
func beforeInstall(Options) error { return nil }

// afterInstall has nothing to add on macOS: launchd's KeepAlive restarts the agent.
func afterInstall(Options) error { return nil }
