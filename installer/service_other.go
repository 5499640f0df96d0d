//go:build !linux && !windows

package installer

// beforeInstall has nothing to prepare on macOS (development only).
func beforeInstall(Options) error { return nil }

// afterInstall has nothing to add on macOS: launchd's KeepAlive restarts the agent.
func afterInstall(Options) error { return nil }

// servicePID is 0: launchd's process id is not asked for (development only).
func servicePID(string) int { return 0 }
