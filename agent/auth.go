package agent

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// credentials are the client id and secret a request presented.
type credentials struct {
	id string
	// secrets to try: the RFC 6749 §2.3.1 form-decoded value and, when it differs, the raw value, so
	// clients that do not form-encode before Basic still work.
	secrets []clientSecret
	method  string // client_secret_basic or client_secret_post
}

// clientCredentials reads client_secret_basic or client_secret_post; both at once is invalid_request.
// A nil result with a nil error means no credentials were presented.
func clientCredentials(r *http.Request, form url.Values) (*credentials, *oauthError) {
	authz := r.Header.Values("Authorization")
	_, postSecret := form["client_secret"]
	if len(authz) == 0 {
		if !postSecret {
			return nil, nil
		}
		return &credentials{id: form.Get("client_id"),
			secrets: []clientSecret{newClientSecret(form.Get("client_secret"))},
			method:  "client_secret_post"}, nil
	}
	if len(authz) > 1 {
		return nil, badRequest("invalid_request", "more than one Authorization header")
	}
	if postSecret {
		return nil, badRequest("invalid_request",
			"use client_secret_basic or client_secret_post, not both")
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return nil, &oauthError{status: http.StatusUnauthorized, Code: "invalid_client",
			Description: "client authentication must use HTTP Basic (client_secret_basic)"}
	}
	id, err := url.QueryUnescape(rawID)
	if err != nil {
		id = rawID
	}
	if fid, ok := form["client_id"]; ok && fid[0] != id {
		return nil, badRequest("invalid_request", "client_id in the body differs from the Basic credentials")
	}
	c := &credentials{id: id, method: "client_secret_basic"}
	if dec, err := url.QueryUnescape(rawSecret); err == nil && dec != rawSecret {
		c.secrets = append(c.secrets, newClientSecret(dec))
	}
	c.secrets = append(c.secrets, newClientSecret(rawSecret))
	return c, nil
}

// formCaller reads the form of an /oauth2/* request and authenticates its caller. On failure it has
// written the response and returns a nil caller.
func (s *Server) formCaller(w http.ResponseWriter, r *http.Request, rl *reqLog) (url.Values, *caller) {
	form, oe := readForm(r)
	if oe != nil {
		oe.write(w)
		return nil, nil
	}
	return form, s.authenticate(w, r, form, rl)
}

// authenticate authenticates the caller of an /oauth2/* request (D5). On failure it has written the
// response and returns nil. The right secret is always verified and served: failures are throttled per
// client id and per source (D7), which only turns further failures' 401 into 429 with Retry-After and
// keeps the log short. Logs name a known client id and the reason, never a secret; an unknown id is not
// logged, as it may be a secret pasted in the wrong place.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, form url.Values, rl *reqLog) *caller {
	creds, oe := clientCredentials(r, form)
	if oe != nil && oe.status != http.StatusUnauthorized {
		oe.write(w)
		return nil
	}
	if creds != nil && oe == nil {
		for _, sec := range creds.secrets {
			if c := s.callers.authenticate(creds.id, sec); c != nil {
				rl.clientID = c.id
				return c
			}
		}
	}
	var id string
	if creds != nil {
		id = creds.id
	}
	reason := "missing credentials"
	known := s.callers.known(id)
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
