package registry

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

const sbOrg = "314250052"

var sbKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// beforeFunc runs a hook before each request it forwards.
type beforeFunc struct {
	base http.RoundTripper
	hook func(*http.Request)
}

func (b beforeFunc) RoundTrip(r *http.Request) (*http.Response, error) {
	b.hook(r)
	return b.base.RoundTrip(r)
}

// sandboxClient starts a sandbox with the organisation's Maskinporten client and returns a registry
// Client for it. hook, if set, runs before every request.
func sandboxClient(t *testing.T, hook func(*http.Request)) (*Client, *sandbox.Sandbox) {
	t.Helper()
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	if err := sb.RegisterClient(sandbox.Client{ID: "client-1", Org: sbOrg, Scopes: Scopes(),
		Keys: []sandbox.ClientKey{{KID: "k1", Public: sbKey().Public()}}}); err != nil {
		t.Fatal(err)
	}
	sb.AddOrganization(sbOrg, "Eksempel AS")
	var rt http.RoundTripper = tokens.NewHTTPClient(tokens.HTTPOptions{}).Transport
	if hook != nil {
		rt = beforeFunc{rt, hook}
	}
	hc := &http.Client{Transport: rt}
	tc, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
		ClientID: "client-1", KeyID: "k1", Signer: sbKey(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return &Client{BaseURL: sb.AltinnURL(), HTTPClient: hc, Tokens: tokens.NewCache(tc, tokens.CacheOptions{}),
		RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond}, sb
}

func sbSystem() System {
	return System{ID: sbOrg + "_sap-local", VendorOrg: sbOrg,
		Name:        Texts{"nb": "SAP lokal", "nn": "SAP lokal", "en": "SAP local"},
		Description: Texts{"nb": "Eget", "nn": "Eige", "en": "Own"},
		Rights:      []Right{ResourceRight(sandbox.ResourceExample, "")}, ClientIDs: []string{"client-1"}}
}

// loseNext makes the sandbox lose the reply to the next request matching method and path suffix, once.
func loseNext(sb **sandbox.Sandbox, method, suffix string) func(*http.Request) {
	var once sync.Once
	return func(r *http.Request) {
		if r.Method == method && strings.HasSuffix(r.URL.Path, suffix) {
			once.Do(func() { (*sb).Inject(sandbox.TargetAltinn, sandbox.Fault{LoseReply: true, Times: 1}) })
		}
	}
}

func TestSandboxLostReplies(t *testing.T) {
	ctx := context.Background()
	var sb *sandbox.Sandbox
	hooks := []func(*http.Request){
		loseNext(&sb, "POST", "/systemregister/vendor"),
		loseNext(&sb, "POST", "/systemuser/request/vendor"),
	}
	c, s := sandboxClient(t, func(r *http.Request) {
		for _, h := range hooks {
			h(r)
		}
	})
	sb = s

	// The POST creating the system is stored, its reply lost; the retry gets "id taken" and the system is
	// read back: one system, no error.
	res, err := c.EnsureSystem(ctx, sbSystem())
	if err != nil || res.Outcome != Unchanged {
		t.Fatalf("EnsureSystem after a lost reply: %+v %v", res, err)
	}
	if got := sb.Systems(); len(got) != 1 || got[0].IsVisible || got[0].ClientIDs[0] != "client-1" {
		t.Fatalf("systems %+v", got)
	}

	// The POST creating the request is stored, its reply lost; the re-POST returns the same request (200).
	r, created, err := c.CreateRequest(ctx, CreateRequest{SystemID: sbSystem().ID, PartyOrgNo: sbOrg, ExternalRef: "payroll",
		Rights: sbSystem().Rights})
	if err != nil {
		t.Fatal(err)
	}
	reqs := sb.Requests()
	if created || len(reqs) != 1 || reqs[0].ID != r.ID || r.ExternalRef != "payroll" || !r.Is(StatusNew) {
		t.Fatalf("created=%v request %+v; sandbox %+v", created, r, reqs)
	}
	if r.ConfirmURL != sb.ConfirmURL(r.ID) {
		t.Errorf("confirm URL %q, want %q", r.ConfirmURL, sb.ConfirmURL(r.ID))
	}
	if st := sb.Stats(); st.FaultsInjected != 2 || st.Errors["AUTH.VLD-00002"] != 1 {
		t.Errorf("both replies should have been lost and the system re-POST refused: %+v", st)
	}
}

func TestSandboxRequestLifecycle(t *testing.T) {
	ctx := context.Background()
	c, sb := sandboxClient(t, nil)
	if res, err := c.EnsureSystem(ctx, sbSystem()); err != nil || res.Outcome != Created || res.InternalID == "" {
		t.Fatalf("%+v %v", res, err)
	}
	if res, err := c.EnsureSystem(ctx, sbSystem()); err != nil || res.Outcome != Unchanged {
		t.Fatalf("second ensure: %+v %v", res, err)
	}
	sysID := sbSystem().ID
	if _, err := c.GetRequestByExternalRef(ctx, sysID, sbOrg, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("no request yet: %v", err)
	}
	r, created, err := c.CreateRequest(ctx, CreateRequest{SystemID: sysID, PartyOrgNo: sbOrg, Rights: sbSystem().Rights})
	if err != nil || !created || r.ExternalRef != sbOrg {
		t.Fatalf("create: %v %v %+v", err, created, r)
	}
	again, created, err := c.CreateRequest(ctx, CreateRequest{SystemID: sysID, PartyOrgNo: sbOrg, Rights: sbSystem().Rights})
	if err != nil || created || again.ID != r.ID {
		t.Fatalf("re-create: %v %v %+v", err, created, again)
	}
	if got, err := c.GetRequestByExternalRef(ctx, sysID, sbOrg, ""); err != nil || got.ID != r.ID {
		t.Errorf("by external ref: %v %+v", err, got)
	}
	if _, err := c.SystemUserByQuery(ctx, sysID, sbOrg, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("no system user yet: %v", err)
	}
	if err := sb.Approve(r.ID); err != nil {
		t.Fatal(err)
	}
	got, err := c.WaitForApproval(ctx, r.ID, WaitOptions{Interval: time.Millisecond})
	if err != nil || !got.Is(StatusAccepted) {
		t.Fatalf("wait: %v %+v", err, got)
	}
	su, err := c.SystemUserByQuery(ctx, sysID, sbOrg, "")
	if err != nil || su.ID != r.ID {
		t.Fatalf("system user: %v %+v", err, su)
	}
	_, _, err = c.CreateRequest(ctx, CreateRequest{SystemID: sysID, PartyOrgNo: sbOrg, Rights: sbSystem().Rights})
	var pe *ProblemError
	if !errors.As(err, &pe) || !pe.Has(CodeSystemUserExists) || !strings.Contains(err.Error(), "change request") {
		t.Errorf("create with a system user: %v", err)
	}
	// DELETE is idempotent; the system user stays.
	if err := c.DeleteRequest(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRequest(ctx, r.ID); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := c.GetRequest(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted request: %v", err)
	}
}

func TestSandboxErrors(t *testing.T) {
	ctx := context.Background()
	c, _ := sandboxClient(t, nil)
	if _, err := c.EnsureSystem(ctx, sbSystem()); err != nil {
		t.Fatal(err)
	}
	other := sbSystem()
	other.ID = sbOrg + "_other"
	_, err := c.EnsureSystem(ctx, other)
	var pe *ProblemError
	if !errors.As(err, &pe) || !pe.Has(CodeClientIDTaken) || !strings.Contains(err.Error(), "already on another live system") {
		t.Errorf("same client id on two systems: %v", err)
	}
	_, _, err = c.CreateRequest(ctx, CreateRequest{SystemID: sbSystem().ID, PartyOrgNo: sbOrg,
		Rights: []Right{ResourceRight(sandbox.ResourceSkatt, "")}})
	if !errors.As(err, &pe) || pe.Code != "AUTH-00001" || !strings.Contains(err.Error(), "agent system register") {
		t.Errorf("right not on the system: %v", err)
	}
	_, _, err = c.CreateRequest(ctx, CreateRequest{SystemID: sbOrg + "_unknown", PartyOrgNo: sbOrg, Rights: sbSystem().Rights})
	if !errors.As(err, &pe) || pe.Code != CodeSystemUnknown || pe.Status != 404 || errors.Is(err, ErrNotFound) {
		t.Errorf("unknown system: %v", err)
	}
	if _, err := c.GetRequest(ctx, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown request: %v", err)
	}
	// A deleted system's id is burnt.
	if _, err := c.do(ctx, call{op: "delete", method: "DELETE", path: "systemregister/vendor/" + sbSystem().ID,
		scope: ScopeSystemRegisterWrite}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnsureSystem(ctx, sbSystem()); !errors.Is(err, ErrSystemDeleted) {
		t.Errorf("deleted system: %v", err)
	}
}

// TestSandboxForbiddenForeignClient: registering a system for an organisation that does not own the
// Maskinporten client is refused (403) and the message says that first, not a missing scope.
func TestSandboxForbiddenForeignClient(t *testing.T) {
	c, _ := sandboxClient(t, nil)
	const other = "310000001"
	sys := sbSystem()
	sys.ID, sys.VendorOrg = other+"_sap-local", other
	_, err := c.EnsureSystem(context.Background(), sys)
	var pe *ProblemError
	if !errors.As(err, &pe) || pe.Status != http.StatusForbidden {
		t.Fatalf("EnsureSystem for another organisation: %v, want a 403 ProblemError", err)
	}
	want := "belongs to organisation " + sbOrg + ", not to " + other
	if h := pe.Hint(); !strings.HasPrefix(h, "the Maskinporten client (maskinporten.client_id) "+want) {
		t.Errorf("hint %q does not start with the ownership (%q)", h, want)
	}
	if strings.Contains(err.Error(), "lacks scope") {
		t.Errorf("the message blames a scope: %v", err)
	}
	// The organisation's own system still gets the scope hint on a real 403 for scope.
	own := &ProblemError{Status: 403, Scope: ScopeSystemRegisterWrite, Org: sbOrg, TokenOrg: sbOrg}
	if !strings.Contains(own.Hint(), "lacks scope") {
		t.Errorf("same organisation: hint %q should name the scope", own.Hint())
	}
}
