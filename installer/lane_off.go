//go:build !winelane

package installer

// wineLane is true only in the wine lane's build (build tag winelane, set by scripts/wine-lane and never
// by scripts/release); lane_on.go says what it changes and why.
const wineLane = false

// startedByWineServices is the wine lane's service detection; outside it nothing is detected here.
func startedByWineServices() bool { return false }
