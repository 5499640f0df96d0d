package sandbox

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

// The drill API (Options.DrillAPI) lets load scripts read the counters and inject faults over HTTP:
//
//	GET /sandbox/stats, POST /sandbox/stats/reset, POST and DELETE /sandbox/faults
//
// It is served beside the upstreams, outside the fault injection, to loopback callers only.

// faultRequest is the body of POST /sandbox/faults: a Fault for one target, durations as Go
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

// DrillGrantCount is one GrantKey with its count, as GET /sandbox/stats lists them.
type DrillGrantCount struct {
	ClientID    string `json:"client_id"`
	Scopes      string `json:"scopes"`
	Org         string `json:"org,omitempty"`
	ExternalRef string `json:"external_ref,omitempty"`
	Resource    string `json:"resource,omitempty"`
	Count       int64  `json:"count"`
}

// DrillStats is the body of GET /sandbox/stats (the drill API).
type DrillStats struct {
	TokenRequests  int64             `json:"token_requests"`
	TokensIssued   int64             `json:"tokens_issued"`
	GrantsRejected int64             `json:"grants_rejected"`
	Exchanges      int64             `json:"exchanges"`
	AltinnRequests int64             `json:"altinn_requests"`
	FaultsInjected int64             `json:"faults_injected"`
	Errors         map[string]int64  `json:"errors"`
	TokensByKey    []DrillGrantCount `json:"tokens_by_key"`
	// TokensByKID counts issued tokens per kid of the grant ("" for x5c); LastGrant is the latest
	// token's grant (absent before the first): which key signed what the agent serves now.
	TokensByKID map[string]int64 `json:"tokens_by_kid"`
	LastGrant   *IssuedGrant     `json:"last_grant,omitempty"`
}

// drillAPI is the drill API: counters and fault injection for load scripts. It answers loopback
// callers only and refuses browser requests (an Origin header), as it changes what the sandbox does.
func drillAPI(sb *Sandbox) http.Handler {
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
	return loopbackOnly("the sandbox drill API", mux)
}

// loopbackOnly serves next to loopback callers that are not browsers (no Origin); others get 403 naming
// api. The sandbox's own admin APIs (drill, registration) sit behind it.
func loopbackOnly(api string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			http.Error(w, api+" answers loopback callers only", http.StatusForbidden)
			return
		}
		if r.Header.Get("Origin") != "" {
			http.Error(w, api+" refuses browser requests", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decodeFault reads a faultRequest and turns it into a sandbox target and fault.
func decodeFault(body io.Reader) (Target, Fault, error) {
	var fr faultRequest
	dec := json.NewDecoder(io.LimitReader(body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		return "", Fault{}, fmt.Errorf("the fault must be a JSON object {target, status, retry_after, delay, reset, lose_reply, times}: %w", err)
	}
	targets := map[string]Target{"": TargetMaskinporten, "maskinporten": TargetMaskinporten,
		"altinn": TargetAltinn, "exchange": TargetExchange}
	t, ok := targets[fr.Target]
	if !ok {
		return "", Fault{}, fmt.Errorf("unknown target %q: use maskinporten, altinn or exchange", fr.Target)
	}
	f := Fault{Status: fr.Status, Reset: fr.Reset, LoseReply: fr.LoseReply, Times: fr.Times}
	var err error
	if f.RetryAfter, err = optDuration("retry_after", fr.RetryAfter); err != nil {
		return "", Fault{}, err
	}
	if f.Delay, err = optDuration("delay", fr.Delay); err != nil {
		return "", Fault{}, err
	}
	switch {
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return "", Fault{}, fmt.Errorf("status %d is not an HTTP status", f.Status)
	case f.Times < 0:
		return "", Fault{}, errors.New("times must be 0 (until cleared) or more")
	case f.Status == 0 && !f.Reset && !f.LoseReply && f.Delay == 0:
		return "", Fault{}, errors.New("the fault does nothing: set status, delay, reset or lose_reply")
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

// statsOf turns Stats into the JSON reply, keys sorted.
func statsOf(st Stats) DrillStats {
	out := DrillStats{TokenRequests: st.TokenRequests, TokensIssued: st.TokensIssued, GrantsRejected: st.GrantsRejected,
		Exchanges: st.Exchanges, AltinnRequests: st.AltinnRequests, FaultsInjected: st.FaultsInjected,
		Errors: st.Errors, TokensByKey: []DrillGrantCount{}, TokensByKID: st.TokensByKID}
	if st.LastGrant != (IssuedGrant{}) {
		out.LastGrant = &st.LastGrant
	}
	for k, n := range st.TokensByKey {
		out.TokensByKey = append(out.TokensByKey, DrillGrantCount{ClientID: k.ClientID, Scopes: k.Scopes, Org: k.Org,
			ExternalRef: k.ExternalRef, Resource: k.Resource, Count: n})
	}
	slices.SortFunc(out.TokensByKey, func(a, b DrillGrantCount) int {
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
