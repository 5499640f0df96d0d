//go:build !winelane

package setup

// laneAccount is the key hand-over's service account. In every build but the wine lane's it is the
// account the installer names (lane_on.go has the one exception).
func laneAccount(account string) string { return account }
