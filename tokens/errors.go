package tokens

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Operations named in Error.Op.
const (
	opToken    = "maskinporten token"
	opExchange = "altinn exchange"
)

// Error is an upstream failure of a Maskinporten token request or an Altinn token exchange. It keeps the
// upstream's codes so callers can tell configuration errors from outages, and says what to do (Hint).
// It never holds a grant or a token. Use errors.As to get it.
type Error struct {
	// Op is the failed operation: "maskinporten token" or "altinn exchange".
	Op string
	// StatusCode is the HTTP status, or 0 when no reply arrived.
	StatusCode int
	// Code is the OAuth error (RFC 6749 §5.2), e.g. "invalid_grant"; empty when the body had none.
	Code string
	// Description is error_description, or the first 200 bytes of a non-JSON body.
	Description string
	// MPCode is the Maskinporten code (e.g. "MP-303") parsed from Description; empty when absent.
	MPCode string
	// RetryAfter is the upstream's Retry-After (429/503), zero when it sent none.
	RetryAfter time.Duration
	// Temporary is true for outages worth retrying later: network errors, 408, 429, 500, 502, 503, 504.
	Temporary bool
	// Err is the underlying transport or context error when no usable reply arrived.
	Err error
}

// Error prints "op: code (MP-nnn): description — hint". It never contains a grant or token.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Code != "":
		b.WriteString(e.Code)
	case e.StatusCode != 0:
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	if e.MPCode != "" {
		b.WriteString(" (" + e.MPCode + ")")
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	if e.StatusCode != 0 && e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if h := e.Hint(); h != "" {
		b.WriteString(" — " + h)
	}
	return b.String()
}

// Unwrap returns the underlying transport or context error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Hint says what to do about the error, in one sentence; empty when nothing specific is known.
func (e *Error) Hint() string {
	if e.Op == opExchange {
		return exchangeHint(e)
	}
	switch {
	case e.MPCode == "MP-100":
		return "Maskinporten does not know this client id in this environment: check maskinporten.client_id and that the environment (test or production) is the one the client was created in"
	case e.MPCode == "MP-110":
		return "wrong audience: endpoints.maskinporten_issuer must equal the environment's issuer exactly, trailing slash included"
	case e.MPCode == "MP-120", e.MPCode == "MP-121", e.MPCode == "MP-124":
		return "the signing key is not registered on the Maskinporten client, has expired (keys last one year) or the kid does not match: run `agent keys public` and register the key on the client, or rotate it"
	case e.MPCode == "MP-122", e.MPCode == "MP-123":
		return "the enterprise certificate (x5c) was refused: use a certificate of the client's own organisation from this environment, sent as a full chain"
	case e.clockError():
		return "the grant's issue time was refused: this host's clock is off by more than 10 seconds; enable NTP time sync (`agent doctor` shows the skew)"
	case e.MPCode == "MP-012":
		return "Maskinporten saw this grant's jti before; the agent retried with a new grant — report this as a bug if it persists"
	case e.MPCode == "MP-200", e.MPCode == "MP-201", e.Code == "invalid_scope":
		return "a scope is not registered on the Maskinporten client: add it to the client in Samarbeidsportalen or remove it from the system user's scopes"
	case e.MPCode == "MP-250":
		return "the organisation has not been granted this scope: ask the API owner to grant the scope to the organisation"
	case e.MPCode == "MP-301", e.MPCode == "MP-302":
		return "Maskinporten refused the authorization_details of the grant: report this as a bug"
	case e.MPCode == "MP-303", e.Code == "invalid_altinn_customer_configuration":
		return "no matching system user: the system user request is not approved yet, the client id is not on the system, or the externalRef differs — run `agent request status`"
	case e.MPCode == "MP-011", e.Code == "invalid_request":
		return "Maskinporten could not read the grant: report this as a bug"
	case e.Temporary && e.StatusCode == 0:
		return "Maskinporten could not be reached: check the network, any proxy (HTTPS_PROXY) and endpoints.maskinporten_token"
	case e.Temporary:
		return "Maskinporten is unavailable; the agent retries — try again later"
	}
	return ""
}

// clockError reports whether Maskinporten refused the grant's iat or exp: a clock problem on this host.
func (e *Error) clockError() bool {
	return e.MPCode == "MP-130" || strings.Contains(e.Description, "Issue time")
}

// regrant reports whether one more attempt with a new grant may succeed (MP-130 clock or MP-012 jti).
func (e *Error) regrant() bool {
	return e.StatusCode >= 400 && e.StatusCode < 500 && (e.clockError() || e.MPCode == "MP-012")
}

// configError reports whether the error is a permanent configuration error worth a short negative
// cache entry (maskinporten.md §6.6): no matching system user (MP-303) or a scope not on the client.
func (e *Error) configError() bool {
	return e.MPCode == "MP-303" || e.MPCode == "MP-200" || e.Code == "invalid_altinn_customer_configuration"
}

func exchangeHint(e *Error) string {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return "Altinn refused the Maskinporten token (expired, another environment's, or without consumer): check that endpoints.altinn belongs to the same environment as Maskinporten"
	case e.StatusCode == http.StatusBadRequest:
		return "Altinn does not accept tokens from this provider: check endpoints.altinn and the Maskinporten environment"
	case e.StatusCode == http.StatusGone:
		return "Altinn refused the exchange request form: report this as a bug"
	case e.Temporary && e.StatusCode == 0:
		return "Altinn could not be reached: check the network, any proxy (HTTPS_PROXY) and endpoints.altinn"
	case e.Temporary:
		return "Altinn is unavailable; the agent retries — try again later"
	}
	return ""
}

var mpCodeRE = regexp.MustCompile(`MP-\d{3}`)

// maxDescription bounds Description so a hostile upstream cannot fill logs.
const maxDescription = 500

// newHTTPError builds an Error from a non-success reply. secrets are strings (the grant, the token) that
// must not appear in the error even if the upstream echoes them.
func newHTTPError(op string, resp *http.Response, body []byte, now time.Time, secrets ...string) *Error {
	e := &Error{Op: op, StatusCode: resp.StatusCode, Temporary: retryableStatus(resp.StatusCode)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// net/http hands back 307/308 itself when the body cannot be replayed; refuse them like the others.
		loc, _ := resp.Location()
		e.Err = redirectError(loc)
		return e
	}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
		e.Code = clean(oe.Error, 100)
		e.Description = clean(oe.Description, maxDescription)
	} else {
		e.Description = clean(string(body), 200)
	}
	for _, s := range secrets {
		e.Description = redact(e.Description, s)
	}
	e.MPCode = mpCodeRE.FindString(e.Description)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter, _ = retryAfter(resp.Header, now)
	}
	return e
}

// redact removes the secret and each of its dot-separated JWS parts longer than 16 bytes from s.
func redact(s, secret string) string {
	if secret == "" || s == "" {
		return s
	}
	s = strings.ReplaceAll(s, secret, "[redacted]")
	for part := range strings.SplitSeq(secret, ".") {
		if len(part) > 16 {
			s = strings.ReplaceAll(s, part, "[redacted]")
		}
	}
	return s
}

// clean makes upstream text printable on one line and at most n bytes (cut at a rune boundary).
func clean(s string, n int) string {
	if len(s) > n {
		s = s[:n]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return -1
		case unicode.IsSpace(r):
			return ' '
		case !unicode.IsPrint(r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
