package agent

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync"
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
	form, c := s.formCaller(w, r, rl)
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
	wait := newWaitBound(r.Context(), s.timeouts.Token)
	tok, err := s.src.Token(wait, req)
	wait.stop()
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
	s.auditToken(r, c, su, req, scope, tok)
	if s.log.Enabled(r.Context(), slog.LevelDebug) { // req.String formats: only when it is logged
		s.log.Debug("token served", "client_id", c.id, "system_user", su.Name, "request", req.String(),
			"expires_in", tok.ExpiresIn(now))
	}
	writeTokenResponse(w, tokenResponse{AccessToken: tok.AccessToken, TokenType: "Bearer",
		ExpiresIn: tok.ExpiresIn(now), Scope: scope})
}

// writeTokenResponse writes the §5.1 success body. Tokens (JWTs: base64url and dots) and scope names
// never need JSON escaping, so the body is appended directly into a pooled buffer, without reflection,
// on the hot path; a value that does need escaping goes through writeJSON. Both give the same bytes.
func writeTokenResponse(w http.ResponseWriter, tr tokenResponse) {
	if !jsonPlain(tr.AccessToken) || !jsonPlain(tr.TokenType) || !jsonPlain(tr.Scope) {
		writeJSON(w, http.StatusOK, tr)
		return
	}
	bp := tokenBodies.Get().(*[]byte)
	b := append((*bp)[:0], `{"access_token":"`...)
	b = append(b, tr.AccessToken...)
	b = append(b, `","token_type":"`...)
	b = append(b, tr.TokenType...)
	b = append(b, `","expires_in":`...)
	b = strconv.AppendInt(b, tr.ExpiresIn, 10)
	b = append(b, `,"scope":"`...)
	b = append(b, tr.Scope...)
	b = append(b, "\"}\n"...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b) // net/http copies b into its buffer: it may go back to the pool
	clear(b)          // the buffer held a token: wipe it before reuse
	*bp = b
	tokenBodies.Put(bp)
}

// tokenBodies recycles token response buffers.
var tokenBodies = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// jsonPlain reports whether encoding/json writes s between quotes unchanged: printable ASCII without
// '"', '\\' and the HTML characters '<', '>', '&' it escapes.
func jsonPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if !plainJSONByte[s[i]] {
			return false
		}
	}
	return true
}

// plainJSONByte is the byte table of jsonPlain.
var plainJSONByte = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = true
	}
	for _, c := range `"\\<>&` {
		t[c] = false
	}
	return t
}()
