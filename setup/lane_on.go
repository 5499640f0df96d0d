//go:build winelane

package setup

import "os/user"

// laneAccount, in the wine lane's build only (build tag winelane, set by scripts/wine-lane and never by
// scripts/release): wine runs every process as one account and has no virtual service accounts, so the
// service account the key hand-over checks is this process's own. The check itself (pipe owner and
// serving account equal to the service account, keystore.TestHandoverPipeRefusesOtherAccount) still runs;
// only whom it expects differs. What wine cannot show (a squatter as another account, NT SERVICE
// accounts) is in docs/windows-test-plan.md.
func laneAccount(account string) string {
	if u, err := user.Current(); err == nil && u.Uid != "" {
		return u.Uid // the SID string on Windows
	}
	return account
}
