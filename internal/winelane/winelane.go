// Package winelane tells tests whether they run in the wine lane (scripts/wine-lane, which builds the
// Windows test binaries with the build tag winelane and runs them under wine). Wine runs every process
// as one account, enforces no ACLs and has no real service manager, so a test that proves one of those
// Windows behaviours skips there with Skip, saying what wine cannot show; on a real Windows (no tag)
// and on other systems Skip does nothing. Test code only.
package winelane

import "testing"

// Skip skips t in the wine lane; why says what wine cannot prove and is listed in the README's Windows
// section. Elsewhere it does nothing.
func Skip(t testing.TB, why string) {
	t.Helper()
	if Active {
		t.Skip("wine lane: " + why)
	}
}
