package winpipe

import (
	"fmt"
	"strings"
)

// Account types of LookupAccountSid (SID_NAME_USE, winnt.h) that name one account.
const (
	sidTypeUser           = 1
	sidTypeWellKnownGroup = 5
	sidTypeComputer       = 9
)

// broadSIDPrefixes name many accounts, or none in particular: Everyone (S-1-1-0), Local (S-1-2-*),
// creator owner and group (S-1-3-*), Dialup, Network, Batch, Interactive, Service, Anonymous (S-1-5-1..7),
// Authenticated Users, Terminal Server users, Remote Interactive, This Organization (S-1-5-11, 13–15),
// every BUILTIN group (S-1-5-32-*), local accounts and local administrators (S-1-5-113, 114), all
// application packages (S-1-15-2-*) and integrity levels (S-1-16-*). A prefix ending in "-" covers
// every SID under it; the others are exact.
var broadSIDPrefixes = []string{"S-1-1-0", "S-1-2-", "S-1-3-", "S-1-5-1", "S-1-5-2", "S-1-5-3", "S-1-5-4",
	"S-1-5-6", "S-1-5-7", "S-1-5-11", "S-1-5-13", "S-1-5-14", "S-1-5-15", "S-1-5-32-", "S-1-5-113",
	"S-1-5-114", "S-1-15-2-", "S-1-16-"}

// OneAccount returns nil when the account name (SID sid, account type use as LookupAccountSid reports
// it) is one account, else why not: an os_user, and a caller secret's reader, is one account, never a
// group or everyone. Users, computer accounts (gMSA) and virtual and service accounts (NT SERVICE\x and
// LOCAL SERVICE report a well-known group type but are one account each) pass. It is plain logic, on
// every OS, so it is tested everywhere; package peer and callersecret call it on Windows.
func OneAccount(name, sid string, use uint32) error {
	for _, p := range broadSIDPrefixes {
		if sid == p || strings.HasSuffix(p, "-") && strings.HasPrefix(sid, p) {
			return fmt.Errorf("%q (%s) is a group: it stands for many accounts", name, sid)
		}
	}
	if use != sidTypeUser && use != sidTypeWellKnownGroup && use != sidTypeComputer {
		return fmt.Errorf("%q (%s) is a group or not an account", name, sid)
	}
	return nil
}
