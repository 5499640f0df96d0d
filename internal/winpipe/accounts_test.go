package winpipe

import "testing"

// TestOneAccount: a secret is given to one account: users, computer accounts, virtual and service
// accounts pass; Everyone, Authenticated Users, any BUILTIN group, other broad SIDs and any group or
// alias SID are refused.
func TestOneAccount(t *testing.T) {
	for _, tc := range []struct {
		sid    string
		use    uint32
		refuse bool
	}{
		{"S-1-5-21-1-2-3-1001", sidTypeUser, false},
		{"S-1-5-21-1-2-3-1105", sidTypeComputer, false},      // DOMAIN\gmsa$ or HOST$
		{"S-1-5-80-1-2-3-4-5", sidTypeWellKnownGroup, false}, // NT SERVICE\x
		{"S-1-5-19", sidTypeWellKnownGroup, false},           // LOCAL SERVICE
		{"S-1-5-18", sidTypeWellKnownGroup, false},           // SYSTEM
		{"S-1-1-0", sidTypeWellKnownGroup, true},             // Everyone
		{"S-1-5-11", sidTypeWellKnownGroup, true},            // Authenticated Users
		{"S-1-5-32-545", 4, true},                            // BUILTIN\Users
		{"S-1-5-32-544", 4, true},                            // BUILTIN\Administrators
		{"S-1-5-32-555", 4, true},                            // Remote Desktop Users
		{"S-1-5-4", sidTypeWellKnownGroup, true},             // Interactive
		{"S-1-5-6", sidTypeWellKnownGroup, true},             // Service
		{"S-1-5-113", sidTypeWellKnownGroup, true},           // Local account
		{"S-1-15-2-1", sidTypeWellKnownGroup, true},          // All application packages
		{"S-1-16-12288", 10, true},                           // High integrity
		{"S-1-5-21-1-2-3-513", 2, true},                      // Domain Users (a group)
		{"S-1-5-21-1-2-3-1200", 4, true},                     // a local group (alias)
		{"S-1-5-21-1-2-3", 3, true},                          // a domain
		{"S-1-5-21-1-2-3-1300", 6, true},                     // a deleted account
		{"S-1-5-15", sidTypeWellKnownGroup, true},            // This Organization
		{"S-1-5-1", sidTypeWellKnownGroup, true},             // Dialup
		{"S-1-5-114", sidTypeWellKnownGroup, true},           // Local administrators
		{"S-1-3-0", sidTypeWellKnownGroup, true},             // Creator Owner
		{"S-1-2-0", sidTypeWellKnownGroup, true},             // Local
	} {
		err := OneAccount("x", tc.sid, tc.use)
		if (err != nil) != tc.refuse {
			t.Errorf("%s (type %d): %v, want refused %v", tc.sid, tc.use, err, tc.refuse)
		}
	}
}
