package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// sandboxSystemName is the name part of the system --seed-system-user registers: "<org>_sandbox".
const sandboxSystemName = "sandbox"

func cmdSandbox(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sandbox", nil)
	listen := fs.String("listen", "127.0.0.1:8900", "address to serve the fake Maskinporten and Altinn on (loopback)")
	org := fs.String("org", "", "organisation number to register a Maskinporten client for")
	clientID := fs.String("client-id", "", "Maskinporten client id to register")
	jwkFile := fs.String("jwk-file", "", "public JWK of the client (from \"agent keys public\"), or - for stdin")
	lifetime := fs.Duration("token-lifetime", 120*time.Second, "lifetime of issued Maskinporten tokens")
	seedUser := fs.Bool("seed-system-user", false, "with --org and --client-id: register the system <org>_"+sandboxSystemName+
		" for the client and an accepted system user of --org, so \"agent run\" gets tokens without onboarding")
	admin := fs.Bool("admin", false, "also serve the drill API to loopback callers: GET /sandbox/stats, POST /sandbox/stats/reset, "+
		"POST and DELETE /sandbox/faults (see docs/performance.md)")
	asJSON := fs.Bool("json", false, "print the endpoints as JSON")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *seedUser && (*org == "" || *clientID == "") {
		return usageError{"--seed-system-user needs --org, --client-id and --jwk-file"}
	}
	sb := sandbox.New(sandbox.Options{TokenLifetime: *lifetime})
	stop, err := serveSandbox(sb, *listen, *admin)
	if err != nil {
		return err
	}
	defer stop()
	if *org != "" {
		sb.AddOrganization(*org, "SANDBOX ORG "+*org)
	}
	if *clientID != "" || *jwkFile != "" {
		if *clientID == "" || *jwkFile == "" || *org == "" {
			return usageError{"--client-id, --org and --jwk-file go together"}
		}
		key, err := readPublicJWK(e, *jwkFile)
		if err != nil {
			return err
		}
		err = sb.RegisterClient(sandbox.Client{ID: *clientID, Org: *org, Scopes: sandboxScopes,
			Keys: []sandbox.ClientKey{{KID: key.KeyID, Public: key.Key}}})
		if err != nil {
			return err
		}
	}
	info := map[string]string{"maskinporten_issuer": sb.MaskinportenIssuer(),
		"maskinporten_token": sb.MaskinportenTokenURL(), "altinn": sb.AltinnURL()}
	if *seedUser {
		sysID := *org + "_" + sandboxSystemName
		if err := sb.SeedSystem(sandbox.SystemSeed{ID: sysID, ClientIDs: []string{*clientID},
			Rights: []string{sandbox.ResourceExample}}); err != nil {
			return fmt.Errorf("seed the system %s: %w", sysID, err)
		}
		userID, err := sb.SeedSystemUser(sysID, *org, "")
		if err != nil {
			return fmt.Errorf("seed a system user of %s for %s: %w", *org, sysID, err)
		}
		info["system_id"], info["system_user_id"] = sysID, userID
	}
	if *admin {
		info["admin"] = sb.URL() + "/sandbox/"
	}
	if *asJSON {
		if err := printJSON(e.stdout, info); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "Sandbox Maskinporten and Altinn at %s. For your config:\n\nenvironment: sandbox\nendpoints:\n", sb.URL())
		for _, k := range []string{"maskinporten_issuer", "maskinporten_token", "altinn"} {
			fmt.Fprintf(e.stdout, "  %s: %s\n", k, info[k])
		}
		if *seedUser {
			fmt.Fprintf(e.stdout, "\nSystem %s with an accepted system user %s of organisation %s.\n",
				info["system_id"], info["system_user_id"], *org)
		}
		if *admin {
			fmt.Fprintf(e.stdout, "Drill API (loopback only) at %s: stats, stats/reset, faults.\n", info["admin"])
		}
		fmt.Fprintln(e.stdout, "\nServing until Ctrl-C.")
	}
	<-ctx.Done()
	return nil
}

// serveSandbox listens on addr and serves sb, plus the drill API under /sandbox/ when admin is set. It
// returns the function that stops serving.
func serveSandbox(sb *sandbox.Sandbox, addr string, admin bool) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w; pick a free loopback port with --listen", addr, err)
	}
	sb.SetBaseURL("http://" + ln.Addr().String())
	var h http.Handler = sb.Handler()
	if admin {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		mux.Handle("/sandbox/", sandboxAdmin(sb))
		h = mux
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// sandboxScopes are the scopes a client registered from the command line may ask for.
var sandboxScopes = []string{"altinn:demo/read", "altinn:authentication/systemregister.write",
	"altinn:authentication/systemuser.request.write", "altinn:authentication/systemuser.request.read"}

// readPublicJWK reads a public JWK from a file or stdin.
func readPublicJWK(e *env, name string) (*jose.JSONWebKey, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open the public JWK: %w", err)
		}
		defer f.Close()
		r = f
	}
	var k jose.JSONWebKey
	if err := json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&k); err != nil {
		return nil, fmt.Errorf("read the public JWK %s: %w", name, err)
	}
	if !k.IsPublic() || k.KeyID == "" {
		return nil, fmt.Errorf("%s must hold a public JWK with a kid (agent keys public prints one)", name)
	}
	return &k, nil
}

// faultRequest is the body of POST /sandbox/faults: a sandbox.Fault for one target, durations as Go
// duration strings ("3s", "1h").
type faultRequest struct {
	Target     string `json:"target"` // maskinporten (default), altinn or exchange
	Status     int    `json:"status"`
	RetryAfter string `json:"retry_after"`
	Delay      string `json:"delay"`
	Reset      bool   `json:"reset"`
	LoseReply  bool   `json:"lose_reply"`
	Times      int    `json:"times"`
}

// grantCount is one sandbox.GrantKey with its count, as GET /sandbox/stats lists them.
type grantCount struct {
	ClientID    string `json:"client_id"`
	Scopes      string `json:"scopes"`
	Org         string `json:"org,omitempty"`
	ExternalRef string `json:"external_ref,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Count       int64  `json:"count"`
}

// statsReply is the body of GET /sandbox/stats.
type statsReply struct {
	TokenRequests  int64            `json:"token_requests"`
	TokensIssued   int64            `json:"tokens_issued"`
	GrantsRejected int64            `json:"grants_rejected"`
	Exchanges      int64            `json:"exchanges"`
	AltinnRequests int64            `json:"altinn_requests"`
	FaultsInjected int64            `json:"faults_injected"`
	Errors         map[string]int64 `json:"errors"`
	TokensByKey    []grantCount     `json:"tokens_by_key"`
}

// sandboxAdmin is the drill API: counters and fault injection for load scripts. It answers loopback
// callers only and refuses browser requests (an Origin header), as it changes what the sandbox does.
func sandboxAdmin(sb *sandbox.Sandbox) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeAdminJSON(w, statsOf(sb.Stats()))
	})
	mux.HandleFunc("POST /sandbox/stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		sb.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /sandbox/faults", func(w http.ResponseWriter, _ *http.Request) {
		sb.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /sandbox/faults", func(w http.ResponseWriter, r *http.Request) {
		t, f, err := decodeFault(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sb.Inject(t, f)
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			http.Error(w, "the sandbox drill API answers loopback callers only", http.StatusForbidden)
			return
		}
		if r.Header.Get("Origin") != "" {
			http.Error(w, "the sandbox drill API refuses browser requests", http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// decodeFault reads a faultRequest and turns it into a sandbox target and fault.
func decodeFault(body io.Reader) (sandbox.Target, sandbox.Fault, error) {
	var fr faultRequest
	dec := json.NewDecoder(io.LimitReader(body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		return "", sandbox.Fault{}, fmt.Errorf("the fault must be a JSON object {target, status, retry_after, delay, reset, lose_reply, times}: %w", err)
	}
	targets := map[string]sandbox.Target{"": sandbox.TargetMaskinporten, "maskinporten": sandbox.TargetMaskinporten,
		"altinn": sandbox.TargetAltinn, "exchange": sandbox.TargetExchange}
	t, ok := targets[fr.Target]
	if !ok {
		return "", sandbox.Fault{}, fmt.Errorf("unknown target %q: use maskinporten, altinn or exchange", fr.Target)
	}
	f := sandbox.Fault{Status: fr.Status, Reset: fr.Reset, LoseReply: fr.LoseReply, Times: fr.Times}
	var err error
	if f.RetryAfter, err = optDuration("retry_after", fr.RetryAfter); err != nil {
		return "", sandbox.Fault{}, err
	}
	if f.Delay, err = optDuration("delay", fr.Delay); err != nil {
		return "", sandbox.Fault{}, err
	}
	switch {
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return "", sandbox.Fault{}, fmt.Errorf("status %d is not an HTTP status", f.Status)
	case f.Times < 0:
		return "", sandbox.Fault{}, errors.New("times must be 0 (until cleared) or more")
	case f.Status == 0 && !f.Reset && !f.LoseReply && f.Delay == 0:
		return "", sandbox.Fault{}, errors.New("the fault does nothing: set status, delay, reset or lose_reply")
	}
	return t, f, nil
}

// optDuration parses an optional duration field; "" is zero.
func optDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q is not a duration such as 3s or 1h", field, s)
	}
	return d, nil
}

// statsOf turns sandbox.Stats into the JSON reply, keys sorted.
func statsOf(st sandbox.Stats) statsReply {
	out := statsReply{TokenRequests: st.TokenRequests, TokensIssued: st.TokensIssued, GrantsRejected: st.GrantsRejected,
		Exchanges: st.Exchanges, AltinnRequests: st.AltinnRequests, FaultsInjected: st.FaultsInjected,
		Errors: st.Errors, TokensByKey: []grantCount{}}
	for k, n := range st.TokensByKey {
		out.TokensByKey = append(out.TokensByKey, grantCount{ClientID: k.ClientID, Scopes: k.Scopes, Org: k.Org,
			ExternalRef: k.ExternalRef, Resource: k.Resource, Count: n})
	}
	slices.SortFunc(out.TokensByKey, func(a, b grantCount) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Scopes, b.Scopes), cmp.Compare(a.Org, b.Org),
			cmp.Compare(a.ExternalRef, b.ExternalRef), cmp.Compare(a.Resource, b.Resource))
	})
	return out
}

// writeAdminJSON writes v as JSON.
func writeAdminJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
