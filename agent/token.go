package agent

import (
	"net/http"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// tokenResponse is the RFC 6749 §5.1 success body.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// serveToken is POST /oauth2/token: client_credentials for an authenticated caller, within its
// allowlists (D6), never an expired token (D14).
//
// Errors: a system_user the caller may not use is invalid_request (the request names something it
// must not, and RFC 6749 has no closer code); a scope outside the caller's (or the system user's)
// list is invalid_scope; both are answered before any upstream call.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, rl *reqLog) {
	form, oe := readForm(r)
	if oe != nil {
		oe.write(w)
		return
	}
	c := s.authenticate(w, r, form, rl)
	if c == nil {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		badRequest("invalid_request", "grant_type is missing; use client_credentials").write(w)
		return
	default:
		badRequest("unsupported_grant_type", "only client_credentials is supported").write(w)
		return
	}
	su, oe := c.systemUser(form.Get("system_user"), s.systemUsers)
	if oe != nil {
		oe.write(w)
		return
	}
	scopes, oe := c.grantScopes(form.Get("scope"), su)
	if oe != nil {
		oe.write(w)
		return
	}
	req := tokens.Request{Scopes: scopes, Org: s.org, ExternalRef: su.ExternalRef, Kind: c.kind}.Normalize()
	start := time.Now()
	tok, err := s.src.Token(r.Context(), req)
	s.metrics.tokenSeconds.Observe(time.Since(start).Seconds())
	now := s.now()
	if err == nil && (tok.AccessToken == "" || tok.ExpiresIn(now) < 1) {
		err = errExpiredFromSource
	}
	if err != nil {
		s.failUpstream(w, c, req, err)
		return
	}
	scope := tok.Scope
	if scope == "" {
		scope = req.ScopeString()
	}
	s.issued.add(tok.AccessToken, c.id, issued{kind: req.Kind, scope: scope, exp: tok.Expiry,
		systemUser: su.Name, externalRef: su.ExternalRef}, now)
	s.log.Debug("token served", "client_id", c.id, "system_user", su.Name, "request", req.String(),
		"expires_in", tok.ExpiresIn(now))
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: tok.AccessToken, TokenType: "Bearer",
		ExpiresIn: tok.ExpiresIn(now), Scope: scope})
}
