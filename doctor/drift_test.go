package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestDoctorDriftAndDeletion against the sandbox: a right added to the config but not to the system is
// an error naming the field; once on the system, drift is a warning with the fix; a change request
// waiting shows its confirm URL; after approval the sandbox holds the right and doctor shows no drift.
// The owner then deletes the system user: doctor fails with the fix `agent setup --new-request`.
func TestDoctorDriftAndDeletion(t *testing.T) {
	sb, o, cfg := sandboxed(t)
	ctx := context.Background()
	ks, _ := o.OpenKeyStore(cfg)
	src, _ := o.Tokens(ctx, cfg, ks)
	reg := &registry.Client{BaseURL: sb.AltinnURL(), Tokens: src}
	s := &setup.Setup{Config: cfg, StateDir: o.StateDir, Registry: reg, Tokens: src}
	if _, err := s.Run(ctx, setup.Options{}); !errors.Is(err, setup.ErrWaiting) {
		t.Fatalf("setup: %v, want waiting", err)
	}
	if err := sb.Approve(sb.Requests()[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, setup.Options{}); err != nil {
		t.Fatalf("setup after approval: %v", err)
	}
	find(t, Run(ctx, o), CheckRights, SevOK)

	// The config asks for a second right; Altinn's system does not carry it yet (not registered again).
	cfg.System.Rights = append(cfg.System.Rights, config.Right{Resource: sandbox.ResourceSkatt})
	cfg.SystemUsers[0].Rights = []config.Right{{Resource: sandbox.ResourceExample}, {Resource: sandbox.ResourceSkatt}}
	writeConfig(t, o.StateDir, cfg)
	if f := find(t, Run(ctx, o), CheckRights, SevError); !strings.Contains(f.Message, "system_users[0].rights[1]") {
		t.Fatalf("right not on the system: %+v", f)
	}
	// Put it on the system: now it is drift, fixed by `agent setup`.
	sys := registry.System{ID: cfg.System.ID, VendorOrg: testOrg, Name: registry.Texts{"nb": "x", "nn": "x", "en": "x"},
		Description: registry.Texts{"nb": "x", "nn": "x", "en": "x"}, ClientIDs: []string{"client-1"},
		Rights: []registry.Right{registry.ResourceRight(sandbox.ResourceExample, ""), registry.ResourceRight(sandbox.ResourceSkatt, "")}}
	if _, err := reg.EnsureSystem(ctx, sys); err != nil {
		t.Fatal(err)
	}
	f := find(t, Run(ctx, o), CheckRights, SevWarning)
	if !strings.Contains(f.Message, "+ "+sandbox.ResourceSkatt) || !strings.Contains(f.Fix, "agent setup") {
		t.Fatalf("drift: %+v", f)
	}
	// A change request for exactly that: pending, with its confirm URL.
	suID := sb.SystemUsers()[0].ID
	cid, _ := registry.NewCorrelationID()
	cr, _, err := reg.CreateChangeRequest(ctx, cid, suID, registry.Change{RequiredRights: []registry.Right{registry.ResourceRight(sandbox.ResourceSkatt, "")}})
	if err != nil {
		t.Fatal(err)
	}
	if f := find(t, Run(ctx, o), CheckRights, SevWarning); !strings.Contains(f.Message, cr.ConfirmURL) || f.Detail["change_request_id"] != cid {
		t.Fatalf("pending: %+v", f)
	}
	if err := sb.ApproveChange(cid); err != nil {
		t.Fatal(err)
	}
	rights, _, _ := sb.SystemUserRights(suID)
	if strings.Join(rights, ",") != sandbox.ResourceExample+","+sandbox.ResourceSkatt {
		t.Fatalf("the sandbox holds %v", rights)
	}
	rep := Run(ctx, o)
	if f := find(t, rep, CheckRights, SevOK); !strings.Contains(f.Message, "no drift") {
		t.Fatalf("after approval: %+v", f)
	}
	if rep.Failed() {
		t.Fatalf("after approval:\n%s", dump(rep))
	}

	// The owner deletes the system user in the portal.
	if err := sb.DeleteSystemUser(suID); err != nil {
		t.Fatal(err)
	}
	rep = Run(ctx, o)
	f = find(t, rep, CheckRequest, SevError)
	if !rep.Failed() || !strings.Contains(f.Message, "deleted") || !strings.Contains(f.Fix, "agent setup --new-request") {
		t.Fatalf("deleted system user: %+v\n%s", f, dump(rep))
	}
}
