//go:build !winelane

package winelane

// Active is true in the wine lane (build tag winelane).
const Active = false
