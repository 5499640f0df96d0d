package sandbox

import (
	"net/http"
	"strings"
)

// The Maskinporten → Altinn token exchange (altinn-api.md §7).

// exchange is GET exchange/{provider}. For maskinporten: a valid sandbox-Maskinporten token with a
// usable consumer gets 200 and a bare Altinn JWT (text/plain); everything else 401 empty. Other
// providers get 400 (string); the enterprise-user header gets 410. withFaults counts the call
// (Stats.Exchanges).
func (a *altinn) exchange(w http.ResponseWriter, r *http.Request) {
	if p := r.PathValue("provider"); p != "maskinporten" {
		altinnText(w, http.StatusBadRequest, "Invalid token provider: "+p)
		return
	}
	if r.Header.Get("X-Altinn-EnterpriseUser-Authentication") != "" {
		w.WriteHeader(http.StatusGone)
		return
	}
	raw, ok := altinnBearer(r)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	in, err := a.verifyMaskinporten(raw)
	if err != nil {
		a.s.log.Debug("sandbox altinn: exchange refused", "err", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	org, ok := altinnConsumerOrg(in)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	tok, err := a.signToken(a.exchangeClaims(in, org))
	if err != nil {
		a.s.log.Error("sandbox altinn: exchange failed", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if altinnWantsJSON(r.Header.Get("Accept")) {
		// [U] ASP.NET may JSON-quote a string result for Accept: application/json.
		altinnJSON(w, http.StatusOK, tok)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(tok))
}

// exchangeClaims keeps the Maskinporten claims except aud, client_amr and sid, and adds Altinn's:
// issuer, org number, authentication method, level 3, a new sid, and exp = now + ExchangeLifetime.
func (a *altinn) exchangeClaims(in map[string]any, org string) map[string]any {
	out := make(map[string]any, len(in)+6)
	for k, v := range in {
		switch k {
		case "aud", "client_amr", "sid":
			continue
		}
		out[k] = v
	}
	now := a.s.now()
	out["iss"] = a.s.AltinnIssuer()
	out["iat"] = now.Unix()
	out["nbf"] = now.Unix()
	out["exp"] = now.Add(a.s.opts.ExchangeLifetime).Unix()
	out["urn:altinn:orgNumber"] = org
	out["urn:altinn:authenticatemethod"] = "maskinporten"
	out["urn:altinn:authlevel"] = 3
	out["sid"] = newUUID()
	return out
}

// altinnWantsJSON reports an Accept header asking for application/json and not text/plain.
func altinnWantsJSON(accept string) bool {
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/plain") &&
		!strings.Contains(accept, "*/*")
}
