package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// callerClient asks the agent for tokens as local callers (client_secret_basic).
type callerClient struct {
	base, secret string
	hc           *http.Client
	body         string
}

// newCallerClient keeps up to conns idle connections (keep-alive, as OAuth libraries do).
func newCallerClient(base, secret string, conns int) *callerClient {
	tr := &http.Transport{Proxy: nil, MaxIdleConns: conns, MaxIdleConnsPerHost: conns}
	return &callerClient{base: base, secret: secret, body: "grant_type=client_credentials",
		hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// result is one token request as the caller saw it.
type result struct {
	caller     string
	sent       time.Time
	latency    time.Duration
	status     int
	retryAfter string
	token      string
	scope      string
	expiresIn  int64
	errCode    string
	err        error // no reply: transport error or the caller's timeout
}

// token asks for caller's token.
func (c *callerClient) token(ctx context.Context, caller string) result {
	r := result{caller: caller, sent: time.Now()}
	defer func() { r.latency = time.Since(r.sent) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth2/token", strings.NewReader(c.body))
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(caller, c.secret)
	resp, err := c.hc.Do(req)
	if err != nil {
		r.err = err
		r.latency = time.Since(r.sent)
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	r.latency = time.Since(r.sent)
	r.status, r.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	if err != nil {
		r.err = err
		return r
	}
	var b struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		r.err = fmt.Errorf("status %d, reply is not JSON", resp.StatusCode)
		return r
	}
	r.token, r.expiresIn, r.scope, r.errCode = b.AccessToken, b.ExpiresIn, b.Scope, b.Error
	return r
}

// valid fails unless r is a 200 carrying a token that is unexpired at now, by expires_in and by the
// JWT's own exp claim.
func (r result) valid(now time.Time) error {
	if r.err != nil {
		return r.err
	}
	if r.status != http.StatusOK {
		return fmt.Errorf("status %d %s", r.status, r.errCode)
	}
	if r.expiresIn <= 0 {
		return fmt.Errorf("expires_in %d", r.expiresIn)
	}
	exp, err := jwtExp(r.token)
	if err != nil {
		return err
	}
	if !exp.After(now) {
		return fmt.Errorf("expired token: exp %s, now %s", exp.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	return nil
}

// jwtExp decodes a JWT's exp claim without verifying the token.
func jwtExp(tok string) (time.Time, error) { return jwtClaimTime(tok, "exp") }

// jwtClaimTime decodes a NumericDate claim (exp, iat) of a JWT without verifying the token.
func jwtClaimTime(tok, claim string) (time.Time, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("the token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("the JWT payload is not base64url")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return time.Time{}, fmt.Errorf("the JWT payload is not JSON")
	}
	n, ok := claims[claim].(json.Number)
	secs, err := n.Int64()
	if !ok || err != nil {
		return time.Time{}, fmt.Errorf("the JWT has no integer %s", claim)
	}
	return time.Unix(secs, 0), nil
}

// latencies summarises durations.
type latencies []time.Duration

// pct is the p-th percentile (0..100) by nearest rank; 0 when empty.
func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(p/100*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}

// max is the largest; 0 when empty.
func (l latencies) max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Max(l)
}

// verdict is PASS or MISS.
func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// ms formats a duration in milliseconds with three decimals.
func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) + " ms" }
