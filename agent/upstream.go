package agent

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// defaultRetryAfter is the Retry-After sent with a 503 when the upstream named none.
const defaultRetryAfter = 5 * time.Second

// errExpiredFromSource is the D14 defence in depth: the source handed out a token with no lifetime left.
var errExpiredFromSource = errors.New("the token source returned an expired or empty token")

// retryAfterHinter is implemented by errors that know when to try again.
type retryAfterHinter interface{ RetryAfterHint() time.Duration }

// upstreamFailure says how a token source error is answered.
type upstreamFailure struct {
	temporary  bool
	retryAfter time.Duration
	code       string // the upstream's error code(s), safe to show; empty when none
}

// classify maps a tokens.Source error. A *tokens.Error keeps its Temporary flag, RetryAfter and codes;
// anything else (context ends, signer trouble, an expired token) is treated as temporary, so callers
// retry rather than give up.
func classify(err error) upstreamFailure {
	f := upstreamFailure{temporary: true}
	var te *tokens.Error
	if errors.As(err, &te) {
		f.temporary, f.retryAfter = te.Temporary, te.RetryAfter
		f.code = te.Code
		if te.MPCode != "" {
			if f.code != "" {
				f.code += " "
			}
			f.code += te.MPCode
		}
	}
	var h retryAfterHinter
	if f.retryAfter <= 0 && errors.As(err, &h) {
		f.retryAfter = h.RetryAfterHint()
	}
	if f.retryAfter <= 0 {
		f.retryAfter = defaultRetryAfter
	}
	return f
}

// failUpstream answers a token request the source could not serve: 503 temporarily_unavailable with
// Retry-After for outages (D14), 500 server_error for configuration errors. The caller sees only the
// upstream's error code, never its body; the log gets the whole error, which holds no secret.
func (s *Server) failUpstream(w http.ResponseWriter, c *caller, req tokens.Request, err error) {
	f := classify(err)
	label := "temporary"
	switch {
	case errors.Is(err, errExpiredFromSource):
		label = "expired"
	case !f.temporary:
		label = "permanent"
	}
	s.metrics.upstreamErrors.WithLabelValues(label).Inc()
	s.log.Warn("token request failed", "client_id", c.id, "request", req.String(), "class", label,
		"error", err.Error())
	code := ""
	if f.code != "" {
		code = " (" + f.code + ")"
	}
	if !f.temporary {
		writeError(w, http.StatusInternalServerError, "server_error",
			"the agent could not get a token"+code+"; the agent's log says what to fix")
		return
	}
	secs := retryAfterSeconds(f.retryAfter)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable",
		"no token available from upstream"+code+"; retry after "+strconv.FormatInt(secs, 10)+" s")
}
