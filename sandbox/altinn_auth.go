package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Authentication and authorisation of Altinn vendor endpoints (altinn-api.md §1, §9 items 1–3).

// Scopes of altinn-api.md §1.
const (
	scopeRegisterWrite = "altinn:authentication/systemregister.write"
	scopeRegisterAdmin = "altinn:authentication/systemregister.admin"
	scopeRequestWrite  = "altinn:authentication/systemuser.request.write"
	scopeRequestRead   = "altinn:authentication/systemuser.request.read"
)

// consumerMode says how an endpoint answers when the token's consumer claim is unusable.
type consumerMode int

const (
	consumerForbidden    consumerMode = iota // 403 empty (system register)
	consumerUnauthorized                     // 401 empty (request reads, system user lookups)
	consumerProblem                          // 401 AUTH-00023 (request create)
	consumerLate                             // the handler checks (change request create: after its query)
)

// vendorCaller is the authenticated vendor.
type vendorCaller struct {
	org   string // vendor org number, from the consumer claim only
	admin bool   // holds systemregister.admin (Digdir): passes owner checks
}

// authed wraps an Altinn handler: valid token (else 401 empty), one of scopes (else 403 empty), usable
// consumer (else per mode). ASP.NET order: authentication, then the scope policy, then the controller.
func (a *altinn) authed(scopes []string, mode consumerMode, fn func(http.ResponseWriter, *http.Request, vendorCaller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := a.authenticate(r)
		if err != nil {
			a.s.log.Debug("sandbox altinn: unauthenticated", "path", r.URL.Path, "err", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		granted := strings.Fields(altinnClaim(claims, "scope"))
		if !slices.ContainsFunc(scopes, func(s string) bool { return slices.Contains(granted, s) }) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		org, ok := altinnConsumerOrg(claims)
		if !ok {
			switch mode {
			case consumerLate:
				fn(w, r, vendorCaller{})
				return
			case consumerForbidden:
				w.WriteHeader(http.StatusForbidden)
			case consumerUnauthorized:
				w.WriteHeader(http.StatusUnauthorized)
			default:
				a.problem(w, codeNoVendor, "Could not read the vendor's organisation number from the token.")
			}
			return
		}
		a.mu.Lock()
		if _, known := a.orgs[org]; !known {
			// The consumer is a registered Maskinporten client's org, so the Register knows it.
			a.orgs[org] = ""
		}
		a.mu.Unlock()
		fn(w, r, vendorCaller{org: org, admin: slices.Contains(granted, scopeRegisterAdmin)})
	})
}

// authenticate picks the verifier by the token's iss (sandbox Maskinporten or sandbox Altinn) and
// returns the verified claims. Errors never contain the token.
func (a *altinn) authenticate(r *http.Request) (map[string]any, error) {
	raw, ok := altinnBearer(r)
	if !ok {
		return nil, fmt.Errorf("%w: no bearer token", errAltinnToken)
	}
	j, err := parseAltinnJWT(raw)
	if err != nil {
		return nil, err
	}
	switch iss, _ := j.claims["iss"].(string); iss {
	case a.s.AltinnIssuer():
		return a.verifyOwnToken(raw)
	case a.s.MaskinportenIssuer():
		return a.verifyMaskinporten(raw)
	default:
		return nil, fmt.Errorf("%w: unknown issuer", errAltinnToken)
	}
}

// verifyMaskinporten verifies a sandbox-Maskinporten token and applies Altinn's own 10 s skew to exp.
func (a *altinn) verifyMaskinporten(raw string) (map[string]any, error) {
	claims, err := a.s.mp.verifyToken(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: maskinporten token: %w", errAltinnToken, err)
	}
	if err := a.checkTimes(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// altinnBearer returns the token of an "Authorization: Bearer" header.
func altinnBearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// altinnConsumerOrg reads the vendor org number from the consumer claim: exact authority, upper-case ID,
// "0192:" prefix, nine digits (altinn-api.md §1).
func altinnConsumerOrg(claims map[string]any) (string, bool) {
	c, ok := claims["consumer"].(map[string]any)
	if !ok || c["authority"] != "iso6523-actorid-upis" {
		return "", false
	}
	id, _ := c["ID"].(string)
	org, ok := strings.CutPrefix(id, "0192:")
	if !ok || !altinnOrgNo(org) {
		return "", false
	}
	return org, true
}

// altinnOrgNo reports whether s is nine digits.
func altinnOrgNo(s string) bool {
	if len(s) != 9 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// altinnClaim returns a string claim or "".
func altinnClaim(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

// owns reports whether the caller may act on a system of vendorOrg.
func (c vendorCaller) owns(vendorOrg string) bool { return c.admin || c.org == vendorOrg }
