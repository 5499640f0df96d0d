package agent

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
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
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, q *request) {
	c := s.formCaller(w, r, q)
	if c == nil {
		return
	}
	switch gt := q.form.get(fieldGrantType); string(gt) {
	case "client_credentials":
	case "":
		badRequest("invalid_request", "grant_type is missing; use client_credentials").write(w)
		return
	default:
		badRequest("unsupported_grant_type", "only client_credentials is supported").write(w)
		return
	}
	su, oe := c.systemUser(q.form.get(fieldSystemUser), c.view.systemUsers)
	if oe != nil {
		oe.write(w)
		return
	}
	scopes, oe := c.grantScopes(q.form.get(fieldScope), su)
	if oe != nil {
		oe.write(w)
		return
	}
	// scopes are sorted and without repeats: the request is normalised as it is.
	req := tokens.Request{Scopes: scopes, Org: c.view.org, ExternalRef: su.ExternalRef, Kind: c.kind}
	wait := newWaitBound(r.Context(), s.timeouts.Token) // the source may keep it: not part of q
	tok, err := s.src.Token(wait, req)
	wait.stop()
	// A source that answered without waiting (a cache hit) took no time worth a second reading of the
	// clock: the request's one reading serves for the token's time left, and the wait observed is 0.
	// A source that waited is timed, and the time left is counted from its answer.
	now, waited := q.now, time.Duration(0)
	if wait.waited() {
		end := time.Now()
		now, waited = s.clock(end), end.Sub(q.start)
	}
	s.metrics.tokenSeconds.Observe(waited.Seconds())
	if err == nil && (tok.AccessToken == "" || tok.ExpiresIn(now) < 1) {
		err = errExpiredFromSource
	}
	s.noteUpstream(su.Name, err)
	if err != nil {
		s.failUpstream(w, c, req, err)
		return
	}
	slot := c.replySlot(su.Name, len(q.form.get(fieldScope)) != 0)
	sr := slot.Load()
	scope := tok.Scope
	if scope == "" {
		if sr != nil && sr.token == tok.AccessToken { // one token, one request: the scope is the same
			scope = sr.scope
		} else {
			scope = req.ScopeString()
		}
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) { // req.String formats: only when it is logged
		s.log.Debug("token served", "client_id", c.id, "system_user", su.Name, "request", req.String(),
			"expires_in", tok.ExpiresIn(now))
	}
	if !sr.sameToken(tok.AccessToken, scope) {
		// The first time this caller gets this token (or its introspection record was dropped): record
		// it. Whatever must happen once per caller per token belongs here, off the hot path.
		rec := s.issued.add(tok.AccessToken, c.id, issued{kind: req.Kind, scope: scope, exp: tok.Expiry,
			systemUser: su.Name, externalRef: su.ExternalRef}, now)
		s.auditToken(r, c, su, req, scope, tok) // D20: logs once per caller per token
		sr = &servedReply{token: tok.AccessToken, scope: scope, rec: rec, expiresIn: -1}
	}
	if exp := tok.ExpiresIn(now); sr.expiresIn != exp {
		sr = sr.at(exp)
		slot.Store(sr)
	}
	sr.write(w)
}

// servedReply is a caller's token reply serialised once: per token and scope, and again only when
// expires_in (whole seconds) changes. The hot path compares the token (the cache hands out the same
// string, so that is a pointer compare) and writes the stored body and Content-Length as they are.
// Values are immutable once stored in a caller's reply slot (caller.replySlot).
type servedReply struct {
	token, scope string
	rec          *issuedRecord // the introspection record of this token for this caller
	expiresIn    int64
	body         []byte   // the §5.1 JSON body, "\n"-terminated
	length       []string // its Content-Length header value, assigned to the header map directly
}

// sameToken reports whether sr (which may be nil) is a reply with this token and scope whose
// introspection record is still held.
func (sr *servedReply) sameToken(token, scope string) bool {
	return sr != nil && sr.token == token && sr.scope == scope && !sr.rec.dropped.Load()
}

// at is sr with expires_in set to exp, serialised.
func (sr *servedReply) at(exp int64) *servedReply {
	n := &servedReply{token: sr.token, scope: sr.scope, rec: sr.rec, expiresIn: exp}
	n.body = appendTokenResponse(nil, tokenResponse{AccessToken: sr.token, TokenType: "Bearer", ExpiresIn: exp,
		Scope: sr.scope})
	n.length = []string{strconv.Itoa(len(n.body))}
	return n
}

// write sends the reply. The D16 headers, Content-Type among them, are already set by the guard.
// net/http sets Content-Length itself for a body that fits its response buffer (the handler is done
// before the body leaves the buffer), without a ninth entry in the header map (see hygieneHeaders);
// a larger body (a long token, many scopes) gets it here, so it is never sent chunked.
func (sr *servedReply) write(w http.ResponseWriter) {
	if len(sr.body) >= netHTTPBuffer {
		w.Header()["Content-Length"] = sr.length // shared: len == cap, and net/http only reads it
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(sr.body)
}

// netHTTPBuffer is the size of the buffer net/http holds a response body in before it sends the headers
// (bufferBeforeChunkingSize in net/http/server.go): a body shorter than this, written by a handler that
// then returns, gets its Content-Length from net/http.
const netHTTPBuffer = 2048

// appendTokenResponse appends the §5.1 success body to b. Tokens (JWTs: base64url and dots) and scope
// names never need JSON escaping, so the body is appended directly, without reflection; a value that
// does need escaping goes through encoding/json. Both give the bytes writeJSON writes.
func appendTokenResponse(b []byte, tr tokenResponse) []byte {
	if !jsonPlain(tr.AccessToken) || !jsonPlain(tr.TokenType) || !jsonPlain(tr.Scope) {
		j, err := json.Marshal(tr)
		if err != nil { // four strings and an int: cannot fail
			panic(err)
		}
		return append(append(b, j...), '\n')
	}
	b = append(b, `{"access_token":"`...)
	b = append(b, tr.AccessToken...)
	b = append(b, `","token_type":"`...)
	b = append(b, tr.TokenType...)
	b = append(b, `","expires_in":`...)
	b = strconv.AppendInt(b, tr.ExpiresIn, 10)
	b = append(b, `,"scope":"`...)
	b = append(b, tr.Scope...)
	return append(b, "\"}\n"...)
}

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
