package setup

import (
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// TestSystemUserIDs: the introspection lookup reads the state at each call, so an approval saved while
// the service runs shows at once; unknown names and a missing state give "".
func TestSystemUserIDs(t *testing.T) {
	dir := t.TempDir()
	ids := SystemUserIDs(dir)
	if got := ids("default"); got != "" {
		t.Errorf("no state: %q, want \"\"", got)
	}
	st := config.NewState()
	st.SystemUsers["default"] = config.SystemUserState{RequestID: "r1", Status: "Accepted", SystemUserID: "su-1"}
	if err := config.SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	if got := ids("default"); got != "su-1" {
		t.Errorf("after approval: %q, want su-1", got)
	}
	if got := ids("other"); got != "" {
		t.Errorf("unknown system user: %q, want \"\"", got)
	}
}
