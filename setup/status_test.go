package setup_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestStatusReport: one line per system user saying where its request stands, a waiting change request
// with its confirm URL included; the JSON document says what waits and lists the pending requests.
func TestStatusReport(t *testing.T) {
	cfg := &config.Config{SystemUsers: []config.SystemUser{{Name: "default"}, {Name: "payroll"}, {Name: "fresh"}, {Name: "changing"}}}
	st := &config.State{SystemUsers: map[string]config.SystemUserState{
		"default": {Status: "accepted", SystemUserID: "su-1", RequestID: "r1",
			Change: &config.ChangeState{ID: "c0", Status: "Accepted", ConfirmURL: "https://am/change?id=c0"}},
		"payroll": {Status: "New", RequestID: "r2", ConfirmURL: "https://am/confirm?id=r2"},
		"fresh":   {Status: "New", TimedOut: true, RequestID: "r3"},
		"changing": {Status: "Accepted", SystemUserID: "su-4", RequestID: "r4", Change: &config.ChangeState{ID: "c4", Status: "New",
			ConfirmURL: "https://am/change?id=c4", Add: config.Grant{Rights: []string{"skatt"}}}},
	}}
	var out bytes.Buffer
	if err := setup.NewStatusReport(cfg, nil, st, nil).WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"default: approved, system user id su-1\n", "payroll: request r2 waits for approval at https://am/confirm?id=r2",
		"fresh: request r3 timed out (run with --new-request)",
		"changing: approved, system user id su-4; change request c4 (+ skatt) waits for approval at https://am/change?id=c4"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	waiting := &setup.WaitingError{Pending: []setup.Pending{{SystemUser: "changing", RequestID: "c4", ConfirmURL: "https://am/change?id=c4", Change: true}}}
	data, err := json.Marshal(setup.NewStatusReport(cfg, []string{"changing"}, st, waiting))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Waiting     bool                              `json:"waiting"`
		SystemUsers map[string]config.SystemUserState `json:"system_users"`
		Pending     []map[string]any                  `json:"pending"`
	}
	if err := json.Unmarshal(data, &r); err != nil || !r.Waiting || len(r.SystemUsers) != 1 || r.SystemUsers["changing"].Change.ID != "c4" ||
		len(r.Pending) != 1 || r.Pending[0]["request_id"] != "c4" || r.Pending[0]["change"] != true {
		t.Errorf("json %s (%v)", data, err)
	}
}
