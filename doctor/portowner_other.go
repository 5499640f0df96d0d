//go:build !linux

package doctor

// portOwner cannot name the listening process on this OS; the finding's fix says how to find it.
func portOwner(string) string { return "" }
