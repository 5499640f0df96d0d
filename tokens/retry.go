package tokens

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// RetryPolicy bounds the retries of one upstream call. Only network errors, 408, 429, 500, 502, 503 and
// 504 are retried, with exponential backoff and jitter or the upstream's Retry-After, all within the
// caller's context.
type RetryPolicy struct {
	// Max is the number of retries after the first attempt: 0 means the default 3, negative means none.
	Max int
	// WaitMin and WaitMax bound the backoff between attempts: defaults 250 ms and 5 s.
	WaitMin, WaitMax time.Duration
}

// maxRetryAfter is the longest Retry-After the client waits for itself; longer (or longer than the
// caller's deadline) ends the call with an Error carrying RetryAfter, so the caller can schedule.
const maxRetryAfter = 30 * time.Second

// WithDefaults fills in the defaults: the one set of retry defaults for every upstream call (tokens and
// registry).
func (p RetryPolicy) WithDefaults() RetryPolicy {
	switch {
	case p.Max == 0:
		p.Max = 3
	case p.Max < 0:
		p.Max = 0
	}
	if p.WaitMin <= 0 {
		p.WaitMin = 250 * time.Millisecond
	}
	if p.WaitMax <= 0 {
		p.WaitMax = 5 * time.Second
	}
	if p.WaitMax < p.WaitMin {
		p.WaitMax = p.WaitMin
	}
	return p
}

// call is the state of one upstream call (all its attempts). It is used by one goroutine: retryablehttp
// calls body, hooks and policies from the goroutine running Do.
type call struct {
	c  *Client
	op string
	r  Request

	req    *retryablehttp.Request // nil while NewRequest probes the body
	spare  []byte                 // a form body signed during the probe and never sent
	grant  string                 // the latest grant, kept only to redact it from upstream errors
	sentAt time.Time              // when the latest attempt was built and sent

	lastStatus int
	lastErr    error
	signErr    error // the grant could not be signed: not an upstream error, never retried
}

// grantBody is the retryablehttp.ReaderFunc of a token POST: every attempt gets a newly signed grant
// (new jti, iat now), so no retry ever replays one (maskinporten.md §4). retryablehttp calls it once
// while building the request, only to learn the length; that grant is kept and sent by the first attempt.
func (a *call) grantBody() (io.Reader, error) {
	if a.req != nil && a.spare != nil {
		b := a.spare
		a.spare = nil
		a.sentAt = a.c.now()
		return bytes.NewReader(b), nil
	}
	now := a.c.now()
	g, err := a.c.grant(a.r, now)
	if err != nil {
		a.signErr = err
		return nil, err
	}
	a.grant = g
	b := []byte("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + url.QueryEscape(g))
	if a.req == nil {
		a.spare = b
		return bytes.NewReader(b), nil
	}
	a.req.ContentLength = int64(len(b)) // this attempt's request; a grant's length may differ from the probe's
	a.sentAt = now
	return bytes.NewReader(b), nil
}

// client returns the retrying client for this call; its policies see this call's state. Under a
// context marked by withSingleAttempt (a Cache that owns the retries of a failing key) it makes one
// attempt.
func (a *call) client(ctx context.Context) *retryablehttp.Client {
	p := a.c.retry
	if singleAttempt(ctx) {
		p.Max = 0
	}
	return &retryablehttp.Client{
		HTTPClient:     a.c.http,
		RetryMax:       p.Max,
		RetryWaitMin:   p.WaitMin,
		RetryWaitMax:   p.WaitMax,
		CheckRetry:     a.checkRetry,
		Backoff:        a.backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: a.logAttempt,
		// Logger stays nil: retryablehttp logs nothing; this package logs without secrets.
	}
}

// checkRetry retries network errors and 408/429/5xx (not 501) while ctx lives; never other 4xx.
func (a *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		a.lastStatus, a.lastErr = 0, err
		return retryableNetErr(err), nil
	}
	a.lastStatus, a.lastErr = resp.StatusCode, nil
	if !retryableStatus(resp.StatusCode) {
		return false, nil
	}
	if ra, ok := retryAfterOf(resp, a.c.now()); ok {
		if ra > maxRetryAfter {
			return false, nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < ra {
			return false, nil // waiting would outlive the caller: report RetryAfter instead
		}
	}
	return true, nil
}

// backoff honours Retry-After on 429/503; otherwise it is exponential from WaitMin, capped at WaitMax,
// with "equal jitter" (a random wait in [d/2, d]).
func (a *call) backoff(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
	if ra, ok := retryAfterOf(resp, a.c.now()); ok {
		return ra
	}
	d := hi
	if n < 30 {
		if x := lo << n; x > 0 && x < hi {
			d = x
		}
	}
	return d/2 + rand.N(d/2+1)
}

// logAttempt logs retries (never the request body or headers).
func (a *call) logAttempt(_ retryablehttp.Logger, _ *http.Request, i int) {
	if i == 0 {
		return
	}
	args := []any{"op", a.op, "attempt", i + 1}
	if len(a.r.Scopes) > 0 {
		args = append(args, "request", a.r.String())
	}
	if a.lastStatus != 0 {
		args = append(args, "last_status", a.lastStatus)
	}
	if a.lastErr != nil {
		args = append(args, "last_error", a.lastErr.Error())
	}
	a.c.log.Warn("retrying upstream request", args...)
}

// retryableStatus is the set of statuses worth another attempt (maskinporten.md §4).
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetErr: transport failures are retried, except refused redirects and certificate errors,
// which another attempt cannot fix.
func retryableNetErr(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, errRedirect), errors.As(err, &unknown), errors.As(err, &invalid),
		errors.As(err, &hostname), errors.As(err, &verify):
		return false
	}
	return true
}

// retryAfterOf parses Retry-After of a 429 or 503 reply.
func retryAfterOf(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	return retryAfter(resp.Header, now)
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, 86400)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// doneError turns a failed Do (no usable reply) into an *Error that keeps the last status seen.
func (a *call) doneError(err error) *Error {
	e := &Error{Op: a.op, StatusCode: a.lastStatus, Err: err, Temporary: retryableNetErr(err)}
	if a.lastStatus != 0 {
		e.Temporary = retryableStatus(a.lastStatus)
	}
	return e
}
