package registry

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// changeSetup: the system carries ResourceExample and ResourceSkatt and PackageAssignable; one system user
// holds ResourceExample (approved request). It returns the client, sandbox, system and system user id.
func changeSetup(t *testing.T, hook func(*http.Request)) (*Client, *sandbox.Sandbox, *System, string) {
	t.Helper()
	var sb *sandbox.Sandbox
	c, s := sandboxClient(t, func(r *http.Request) {
		if hook != nil {
			hook(r)
		}
	})
	sb = s
	sys := sbSystem()
	sys.Rights = append(sys.Rights, ResourceRight(sandbox.ResourceSkatt, ""))
	sys.AccessPackages = AccessPackages{sandbox.PackageAssignable}
	ctx := context.Background()
	if _, err := c.EnsureSystem(ctx, sys); err != nil {
		t.Fatal(err)
	}
	rq, _, err := c.CreateRequest(ctx, CreateRequest{SystemID: sys.ID, PartyOrgNo: sbOrg, ExternalRef: "payroll",
		Rights: []Right{ResourceRight(sandbox.ResourceExample, "")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Approve(rq.ID); err != nil {
		t.Fatal(err)
	}
	return c, sb, &sys, rq.ID
}

func wantRights(resources ...string) Wanted {
	var w Wanted
	for i, r := range resources {
		w.Rights = append(w.Rights, ResourceRight(r, ""))
		w.RightFields = append(w.RightFields, "system_users[0].rights["+string(rune('0'+i))+"]")
	}
	return w
}

// TestChangeRequestAddRight: add a right → plan → change request (201) → a re-send with the same id
// gets the stored one (200) → approve → Altinn (the sandbox) holds the right, the trail shows it and the
// plan is empty: no drift.
func TestChangeRequestAddRight(t *testing.T) {
	c, sb, sys, su := changeSetup(t, nil)
	ctx := context.Background()
	held, err := c.HeldBy(ctx, sys.ID, su)
	if err != nil {
		t.Fatal(err)
	}
	want := wantRights(sandbox.ResourceExample, sandbox.ResourceSkatt)
	ch, err := PlanChange(sys, want, *held)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Empty() || ch.String() != "+ "+sandbox.ResourceSkatt {
		t.Fatalf("plan %q", ch)
	}
	cid, err := NewCorrelationID()
	if err != nil {
		t.Fatal(err)
	}
	cr, created, err := c.CreateChangeRequest(ctx, cid, su, ch)
	if err != nil || !created || cr.ID != cid || !cr.Is(StatusNew) || !strings.Contains(cr.ConfirmURL, "changerequest?id="+cid) {
		t.Fatalf("create: %+v %v %v", cr, created, err)
	}
	again, created, err := c.CreateChangeRequest(ctx, cid, su, ch)
	if err != nil || created || again.ID != cid {
		t.Fatalf("re-send: %+v %v %v", again, created, err)
	}
	held, err = c.HeldBy(ctx, sys.ID, su)
	if err != nil {
		t.Fatal(err)
	}
	if p := held.PendingFor(ch); p == nil || p.ID != cid {
		t.Fatalf("pending: %+v", held.Pending)
	}
	if err := sb.ApproveChange(cid); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetChangeRequest(ctx, cid)
	if err != nil || !got.Is(StatusAccepted) || !got.Final() {
		t.Fatalf("after approval: %+v %v", got, err)
	}
	rights, _, err := sb.SystemUserRights(su)
	if err != nil || !slices.Equal(rights, []string{sandbox.ResourceExample, sandbox.ResourceSkatt}) {
		t.Fatalf("sandbox holds %v (%v)", rights, err)
	}
	held, err = c.HeldBy(ctx, sys.ID, su)
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := PlanChange(sys, want, *held); err != nil || !ch.Empty() || len(held.Pending) != 0 {
		t.Fatalf("drift after approval: %q %v pending %d", ch, err, len(held.Pending))
	}
	// Removing a right: unwanted, approved, gone.
	ch, _ = PlanChange(sys, wantRights(sandbox.ResourceSkatt), *held)
	if ch.String() != "- "+sandbox.ResourceExample {
		t.Fatalf("removal plan %q", ch)
	}
	cid2, _ := NewCorrelationID()
	if _, _, err := c.CreateChangeRequest(ctx, cid2, su, ch); err != nil {
		t.Fatal(err)
	}
	if err := sb.ApproveChange(cid2); err != nil {
		t.Fatal(err)
	}
	if rights, _, _ := sb.SystemUserRights(su); !slices.Equal(rights, []string{sandbox.ResourceSkatt}) {
		t.Fatalf("after removal the sandbox holds %v", rights)
	}
	// An empty change: NoChangeNeeded, nothing stored.
	cid3, _ := NewCorrelationID()
	nc, created, err := c.CreateChangeRequest(ctx, cid3, su, Change{})
	if err != nil || created || !nc.Is(StatusNoChangeNeeded) || !nc.Final() {
		t.Fatalf("empty change: %+v %v %v", nc, created, err)
	}
	if n := len(sb.ChangeRequests()); n != 2 {
		t.Fatalf("%d change requests stored, want 2", n)
	}
}

// TestChangeRequestLostReply: the reply to the POST is lost; the retrying client re-sends the same
// correlation id and gets the stored change request: exactly one exists.
func TestChangeRequestLostReply(t *testing.T) {
	var sbp *sandbox.Sandbox
	var armed atomic.Bool
	c, sb, sys, su := changeSetup(t, func(r *http.Request) {
		if armed.Load() && r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/changerequest/vendor") {
			armed.Store(false)
			sbp.Inject(sandbox.TargetAltinn, sandbox.Fault{LoseReply: true, Times: 1})
		}
	})
	sbp = sb
	armed.Store(true)
	cid, _ := NewCorrelationID()
	ch, _ := PlanChange(sys, wantRights(sandbox.ResourceExample, sandbox.ResourceSkatt), Held{Rights: []Right{ResourceRight(sandbox.ResourceExample, "")}})
	cr, created, err := c.CreateChangeRequest(context.Background(), cid, su, ch)
	if err != nil || cr.ID != cid || created {
		t.Fatalf("after a lost reply: %+v created=%v %v (want the stored one, 200)", cr, created, err)
	}
	if n := len(sb.ChangeRequests()); n != 1 {
		t.Fatalf("%d change requests, want 1", n)
	}
}

// TestChangeRequestRefusedBeforeSending: a wanted right or package the system does not have is refused
// by PlanChange, naming the config field; no change request reaches Altinn.
func TestChangeRequestRefusedBeforeSending(t *testing.T) {
	var posts atomic.Int32
	c, sb, sys, su := changeSetup(t, func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/changerequest/") || strings.HasSuffix(r.URL.Path, "/changerequest/vendor") {
			posts.Add(1)
		}
	})
	held, err := c.HeldBy(context.Background(), sys.ID, su)
	if err != nil {
		t.Fatal(err)
	}
	before := posts.Load()
	_, err = PlanChange(sys, wantRights(sandbox.ResourceExample, sandbox.ResourceMaskinportenSchema), *held)
	if err == nil || !strings.Contains(err.Error(), "system_users[0].rights[1]") || !strings.Contains(err.Error(), sandbox.ResourceMaskinportenSchema) ||
		!strings.Contains(err.Error(), "system.rights") {
		t.Fatalf("refusal: %v", err)
	}
	_, err = PlanChange(sys, Wanted{AccessPackages: AccessPackages{sandbox.PackageClientRelation},
		PackageFields: []string{"system_users[0].access_packages[0]"}}, *held)
	if err == nil || !strings.Contains(err.Error(), "system_users[0].access_packages[0]") {
		t.Fatalf("package refusal: %v", err)
	}
	if posts.Load() != before || len(sb.ChangeRequests()) != 0 {
		t.Fatal("something was sent")
	}
}

// TestChangeRequestErrors: a deleted system user is AUTH-00015 with the fix; its trail is ErrNotFound;
// the server-side check (a right not on the system, sent anyway) keeps AUTH-00001.
func TestChangeRequestErrors(t *testing.T) {
	c, sb, sys, su := changeSetup(t, nil)
	ctx := context.Background()
	cid, _ := NewCorrelationID()
	_, _, err := c.CreateChangeRequest(ctx, cid, su, Change{RequiredRights: []Right{ResourceRight(sandbox.ResourceMaskinportenSchema, "")}})
	var pe *ProblemError
	if !errors.As(err, &pe) || pe.Code != "AUTH-00001" {
		t.Fatalf("right not on system: %v", err)
	}
	if err := sb.DeleteSystemUser(su); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.CreateChangeRequest(ctx, cid, su, Change{RequiredRights: []Right{ResourceRight(sandbox.ResourceSkatt, "")}})
	if !errors.As(err, &pe) || pe.Code != CodeSystemUserUnknown || !strings.Contains(err.Error(), "agent setup --new-request") {
		t.Fatalf("deleted system user: %v", err)
	}
	if _, err := c.HeldBy(ctx, sys.ID, su); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trail of a deleted system user: %v", err)
	}
	if _, _, err := c.CreateChangeRequest(ctx, "not-a-uuid", su, Change{}); err == nil {
		t.Fatal("a bad correlation id was sent")
	}
}

// TestSecondServerKeepsOtherClients: a second server (its own Maskinporten client) runs EnsureSystem with
// its client id: Altinn's system then lists both clients (the first server's is kept), a repeat changes
// nothing, and both clients get tokens for the one system user. ReplaceClientIDs retires one.
func TestSecondServerKeepsOtherClients(t *testing.T) {
	c, sb, sys, _ := changeSetup(t, nil)
	ctx := context.Background()
	if err := sb.RegisterClient(sandbox.Client{ID: "client-2", Org: sbOrg, Scopes: Scopes(),
		Keys: []sandbox.ClientKey{{KID: "k2", Public: sbKey().Public()}}}); err != nil {
		t.Fatal(err)
	}
	second := *sys
	second.ClientIDs = []string{"client-2"}
	res, err := c.EnsureSystem(ctx, second)
	if err != nil || res.Outcome != Updated || !slices.Equal(res.Changed, []string{"clientId"}) {
		t.Fatalf("second server: %+v %v", res, err)
	}
	live, err := c.GetSystem(ctx, sys.ID)
	if err != nil || !slices.Equal(live.ClientIDs, []string{"client-1", "client-2"}) {
		t.Fatalf("client ids after the second server: %v %v", live.ClientIDs, err)
	}
	if res, err := c.EnsureSystem(ctx, second); err != nil || res.Outcome != Unchanged {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	if res, err := c.EnsureSystem(ctx, *sys); err != nil || res.Outcome != Unchanged {
		t.Fatalf("first server again: %+v %v", res, err)
	}
	var ids []string
	for _, client := range []string{"client-1", "client-2"} {
		tc, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
			ClientID: client, KeyID: map[string]string{"client-1": "k1", "client-2": "k2"}[client], Signer: sbKey()})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tc.Token(ctx, tokens.Request{Scopes: []string{ScopeRequestRead}, Org: sbOrg, ExternalRef: "payroll"})
		if err != nil {
			t.Fatalf("%s: system user token: %v", client, err)
		}
		claims, err := sb.VerifyAccessToken(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		ad := claims["authorization_details"].([]any)[0].(map[string]any)
		ids = append(ids, ad["systemuser_id"].([]any)[0].(string))
	}
	if ids[0] != ids[1] {
		t.Fatalf("the two servers act as different system users: %v", ids)
	}
	second.ReplaceClientIDs = true
	if _, err := c.EnsureSystem(ctx, second); err != nil {
		t.Fatal(err)
	}
	if live, _ := c.GetSystem(ctx, sys.ID); !slices.Equal(live.ClientIDs, []string{"client-2"}) {
		t.Fatalf("after ReplaceClientIDs: %v", live.ClientIDs)
	}
}
