//go:build winelane && !windows

package installer

// startedByWineServices is false off Windows (wine lane only: lane_on.go).
func startedByWineServices() bool { return false }
