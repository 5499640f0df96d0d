package peer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/winpipe"
)

func testPipe() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return `\\.\pipe\systemuser-agent-test\api-` + hex.EncodeToString(b[:])
}

func dialPipe(name string) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) { return winpipe.Dial(ctx, name) }
}

// TestD10PipeMappedAccountNeedsNoSecret: the pipe's server names its client's account; a client whose
// account is the configured os_user gets a token with no secret, and with a config that maps another
// account the same client is disconnected before its request is read. Under wine every process runs as
// one account, so the test maps (or does not map) this test's own account; that a second real account
// is refused by the DACL itself, and served when mapped, is docs/windows-test-plan.md step 15.
func TestD10PipeMappedAccountNeedsNoSecret(t *testing.T) {
	self, err := winpipe.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	name := testPipe()
	ln, err := ListenPipe(name, []string{self.String()})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, testConfig(self.String()), ln)
	status, tok, err := tokenOver(dialPipe(name))
	if err != nil || status != 200 || tok != "tok-test:a" {
		t.Fatalf("mapped account over the pipe: %d %q %v", status, tok, err)
	}

	other := testPipe()
	ln2, err := ListenPipe(other, []string{"S-1-5-19"}) // LOCAL SERVICE: not this test's account
	if err != nil {
		t.Fatal(err)
	}
	serve(t, testConfig("S-1-5-19"), ln2)
	if status, _, err := tokenOver(dialPipe(other)); err == nil {
		t.Fatalf("an unmapped account got HTTP %d", status)
	}
}

// TestListenPipeRefusals: a group or an unknown account is not an os_user; no os_user at all is refused.
func TestListenPipeRefusals(t *testing.T) {
	for _, tc := range []struct {
		users []string
		want  string
	}{
		{nil, "no os_user"},
		{[]string{"S-1-1-0"}, "group"},      // Everyone
		{[]string{"S-1-5-32-545"}, "group"}, // BUILTIN\Users
		{[]string{"S-1-5-32-555"}, "group"}, // BUILTIN\Remote Desktop Users
		{[]string{"S-1-5-6"}, "group"},      // NT AUTHORITY\SERVICE: every service
		{[]string{`NOSUCHDOMAIN\nobody-xyz`}, "name an existing account"},
	} {
		ln, err := ListenPipe(testPipe(), tc.users)
		if err == nil {
			ln.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.users, err, tc.want)
		}
	}
}
