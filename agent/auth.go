package agent

import (
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// credentials are the client id and secret a request presented, as views into the request's scratch.
type credentials struct {
	id []byte
	// secrets to try: the RFC 6749 §2.3.1 form-decoded value and, when it differs, the raw value, so
	// clients that do not form-encode before Basic still work.
	secrets [2]clientSecret
	n       int // secrets in use
	method  string
}

// clientCredentials reads client_secret_basic or client_secret_post into creds; both at once is
// invalid_request. It reports false with a nil error when no credentials were presented. It allocates
// nothing for the usual short credentials.
func clientCredentials(r *http.Request, form *oauthForm, sc *scratch, creds *credentials) (bool, *oauthError) {
	authz := r.Header["Authorization"]
	postSecret := form.has(fieldClientSecret)
	if len(authz) == 0 {
		if !postSecret {
			return false, nil
		}
		*creds = credentials{id: form.get(fieldClientID), n: 1, method: "client_secret_post"}
		creds.secrets[0] = clientSecret{b: form.get(fieldClientSecret)}
		return true, nil
	}
	if len(authz) > 1 {
		return false, badRequest("invalid_request", "more than one Authorization header")
	}
	if postSecret {
		return false, badRequest("invalid_request",
			"use client_secret_basic or client_secret_post, not both")
	}
	rawID, rawSecret, ok := basicAuth(authz[0], sc)
	if !ok {
		return false, &oauthError{status: http.StatusUnauthorized, Code: "invalid_client",
			Description: "client authentication must use HTTP Basic (client_secret_basic)"}
	}
	id := rawID
	if dec, ok := unescapeInPlace(rawID); ok { // the id is not used raw: decode it where it is
		id = dec
	}
	if form.has(fieldClientID) && string(form.get(fieldClientID)) != string(id) {
		return false, badRequest("invalid_request", "client_id in the body differs from the Basic credentials")
	}
	*creds = credentials{id: id, method: "client_secret_basic"}
	// The decoded secret goes after the raw one in the scratch, so both can be tried.
	dec := append(sc.cred[len(sc.cred):len(sc.cred)], rawSecret...)
	sc.cred = sc.cred[:len(sc.cred)+len(dec)]
	if d, ok := unescapeInPlace(dec); ok && string(d) != string(rawSecret) {
		creds.secrets[creds.n] = clientSecret{b: d}
		creds.n++
	}
	creds.secrets[creds.n] = clientSecret{b: rawSecret}
	creds.n++
	return true, nil
}

// basicAuth decodes "Basic base64(id:secret)" (RFC 7617, the scheme name in any case) into sc.cred, as
// net/http's Request.BasicAuth does, without allocating for credentials that fit sc.credA with room to
// spare (clientCredentials appends the decoded secret after them).
func basicAuth(v string, sc *scratch) (id, secret []byte, ok bool) {
	const prefix = "Basic "
	if len(v) < len(prefix) || !asciiEqualFold(v[:len(prefix)], prefix) {
		return nil, nil, false
	}
	v = v[len(prefix):]
	buf := sc.credA[:]
	if need := len(v) + 2*base64.StdEncoding.DecodedLen(len(v)); need > len(buf) {
		buf = make([]byte, need)
	}
	// The encoded value is copied to the end of buf (a string cannot be decoded in place), decoded to
	// its start, and wiped.
	src := buf[len(buf)-len(v):]
	copy(src, v)
	n, err := base64.StdEncoding.Decode(buf, src)
	clear(src)
	sc.cred = buf[:n]
	if err != nil {
		return nil, nil, false
	}
	i := indexByte(sc.cred, ':')
	if i < 0 {
		return nil, nil, false
	}
	return sc.cred[:i], sc.cred[i+1:], true
}

// idOrNil is the presented id, nil when c is nil.
func (c *credentials) idOrNil() []byte {
	if c == nil {
		return nil
	}
	return c.id
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// formCaller reads the form of an /oauth2/* request into q and authenticates its caller. On failure it
// has written the response and returns a nil caller.
func (s *Server) formCaller(w http.ResponseWriter, r *http.Request, q *request) *caller {
	if oe := readForm(r, q.scratch(), &q.form); oe != nil {
		oe.write(w)
		return nil
	}
	return s.authenticate(w, r, q)
}

// authenticate authenticates the caller of an /oauth2/* request (D5). On failure it has written the
// response and returns nil. The right secret is always verified and served: failures are throttled per
// client id and per source (D7), which only turns further failures' 401 into 429 with Retry-After and
// keeps the log short. Logs name a known client id and the reason, never a secret; an unknown id is not
// logged, as it may be a secret pasted in the wrong place.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, q *request) *caller {
	creds := &q.creds
	found, oe := clientCredentials(r, &q.form, q.scratch(), creds)
	if oe != nil && oe.status != http.StatusUnauthorized {
		oe.write(w)
		return nil
	}
	callers := s.view().callers // one view for the whole request, even across a reload
	if oe == nil {
		if c := attestedCaller(q.conn, &q.form, creds, found, callers); c != nil {
			q.log.clientID = c.id
			return c
		}
	}
	if found && oe == nil {
		for _, sec := range creds.secrets[:creds.n] {
			if c := callers.authenticate(creds.id, sec); c != nil {
				q.log.clientID = c.id
				return c
			}
		}
	}
	if !found {
		creds = nil
	}
	var id string
	if creds != nil {
		id = string(creds.id) // a failure: off the hot path
	}
	reason := "missing credentials"
	known := callers.byID(creds.idOrNil()) != nil
	switch {
	case oe != nil:
		reason = "malformed Authorization header"
	case creds == nil:
	case !known:
		reason = "unknown client id"
	default:
		reason = "wrong secret"
	}
	s.failAuth(w, r, id, known, reason)
	return nil
}

// failAuth answers a failed client authentication: 401 invalid_client, or 429 with Retry-After once the
// client id or the source is over the failure limit (D7), and counts and logs it (rate-limited).
func (s *Server) failAuth(w http.ResponseWriter, r *http.Request, id string, known bool, reason string) {
	src := requestSource(r)
	logID := id
	keys := [2]string{"src:" + src}
	n := 1
	if known {
		keys[1] = "client:" + id
		n = 2
	} else {
		logID = "(unknown)"
	}
	v := s.throttle.fail(s.now(), keys[:n]...)
	s.metrics.authFailures.WithLabelValues(strings.ReplaceAll(strings.ToLower(reason), " ", "_")).Inc()
	if v.wait > 0 {
		s.metrics.authFailures.WithLabelValues("throttled").Inc()
		if v.log {
			s.log.Warn("client authentication failures throttled", "client_id", logID, "reason", reason,
				"source", src, "not_logged_since_last", v.suppressed, "retry_after", v.wait)
		}
		secs := retryAfterSeconds(v.wait)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		writeError(w, http.StatusTooManyRequests, "temporarily_unavailable",
			"too many failed client authentications; retry after "+strconv.FormatInt(secs, 10)+" s")
		return
	}
	if v.log {
		s.log.Warn("client authentication failed", "client_id", logID, "reason", reason, "source", src)
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="systemuser-agent"`)
	writeError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
}

// requestSource names where a request came from as far as the transport knows: a Unix socket peer's
// uid, else the remote IP address.
func requestSource(r *http.Request) string {
	if tc, ok := r.Context().Value(connKey{}).(*trackedConn); ok && tc.peer != "" {
		return tc.peer
	}
	return remoteIP(r)
}

func remoteIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
