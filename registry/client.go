// Package registry is the organisation's client for Altinn's vendor APIs (altinn-api.md §3–§5): it keeps the
// organisation's own system in the System Register (look up first, create or replace, never a blind
// create), sends and reads system user requests, looks up system users and polls a request until it is
// answered. Every call is idempotent or safe to repeat; upstream errors keep their Altinn code and say what
// to do (ProblemError).
//
// registry imports tokens for the Source type only (its own Maskinporten token, no system user). The agent,
// tokens and sandbox packages must never import registry; only setup and cmd/agent do.
package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	retryablehttp "github.com/hashicorp/go-retryablehttp"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// The scopes Altinn's vendor endpoints require (altinn-api.md §1). The client asks for one token with all
// three: one cache entry serves every call.
const (
	// ScopeSystemRegisterWrite guards systemregister/vendor… and systemuser/vendor/bysystem.
	ScopeSystemRegisterWrite = "altinn:authentication/systemregister.write"
	// ScopeRequestWrite guards POST/DELETE systemuser/request/vendor… and GET systemuser/vendor/byquery.
	ScopeRequestWrite = "altinn:authentication/systemuser.request.write"
	// ScopeRequestRead guards GET systemuser/request/vendor….
	ScopeRequestRead = "altinn:authentication/systemuser.request.read"
)

// Scopes returns the scopes of the registry's own token, sorted.
func Scopes() []string {
	return []string{ScopeSystemRegisterWrite, ScopeRequestRead, ScopeRequestWrite}
}

// maxBody bounds every reply body read from Altinn.
const maxBody = 1 << 20

// Client talks to one Altinn environment as the organisation (vendor). Set the fields, then use it; it is
// safe for concurrent use as long as the fields are not changed.
type Client struct {
	// BaseURL is the Altinn platform base, e.g. https://platform.tt02.altinn.no (no /authentication).
	BaseURL string
	// HTTPClient sends the requests as is; nil means the hardened upstream client of package tokens
	// (tokens.NewHTTPClient), never http.DefaultClient.
	HTTPClient *http.Client
	// Tokens gives the registry its own Maskinporten token (Org empty: no system user).
	Tokens tokens.Source
	// Logger gets one debug line per call (never a token); nil discards.
	Logger *slog.Logger
	// RetryMax is how often one call is retried after a network error, 429 or 5xx: 0 means 3, negative
	// means never. Only this client retries single calls; WaitForApproval's loop is separate.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the exponential wait between retries (Retry-After on 429/503
	// wins); zero means the defaults of tokens.RetryPolicy (250ms and 5s).
	RetryWaitMin, RetryWaitMax time.Duration
}

// call is one Altinn request.
type call struct {
	op     string     // what is being done, for errors: "register system 310000001_x"
	method string     // HTTP method
	path   string     // below the base URL, segments already escaped
	query  url.Values // optional
	scope  string     // the scope the endpoint needs (named in the 403 hint)
	org    string     // the organisation the call is for (vendor or party), when known
	body   any        // JSON body or nil
	out    any        // decode target for a 2xx body, or nil
}

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Client) retrying() *retryablehttp.Client {
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	p := tokens.RetryPolicy{Max: c.RetryMax, WaitMin: c.RetryWaitMin, WaitMax: c.RetryWaitMax}.WithDefaults()
	return &retryablehttp.Client{
		HTTPClient:   hc,
		RetryMax:     p.Max,
		RetryWaitMin: p.WaitMin,
		RetryWaitMax: p.WaitMax,
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff:      retryablehttp.DefaultBackoff,
		// The last reply (e.g. a 503 with its problem body) comes back to us instead of a generic error.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
}

// defaultHTTPClient is the hardened upstream client a Client without HTTPClient shares.
var defaultHTTPClient = sync.OnceValue(func() *http.Client { return tokens.NewHTTPClient(tokens.HTTPOptions{}) })

// do sends cl and decodes a 2xx reply into cl.out. It returns the HTTP status; any non-2xx reply is a
// *ProblemError. Every method may be retried: GET, PUT and DELETE are idempotent, and the only POSTs
// (create system, create request) are safe to repeat — see their callers.
func (c *Client) do(ctx context.Context, cl call) (int, error) {
	if c.Tokens == nil {
		return 0, fmt.Errorf("registry: %s: no token source configured (a bug in the caller)", cl.op)
	}
	if c.BaseURL == "" {
		return 0, fmt.Errorf("registry: %s: no Altinn base URL: set endpoints.altinn or environment in the config", cl.op)
	}
	tok, err := c.Tokens.Token(ctx, tokens.Request{Scopes: Scopes()})
	if err != nil {
		return 0, fmt.Errorf("registry: %s: get the organisation's Maskinporten token for Altinn (scopes %s): %w",
			cl.op, strings.Join(Scopes(), " "), err)
	}
	u := strings.TrimRight(c.BaseURL, "/") + "/authentication/api/v1/" + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body any
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return 0, fmt.Errorf("registry: %s: encode the request body: %w", cl.op, err)
		}
		body = b // a []byte body is replayed whole on every attempt
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return 0, fmt.Errorf("registry: %s: build the request for %s: %w (check endpoints.altinn)", cl.op, c.BaseURL, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.retrying().Do(req)
	if err != nil && resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		c.logger().DebugContext(ctx, "altinn call failed", "op", cl.op, "method", cl.method, "path", cl.path, "error", err)
		if ctx.Err() != nil {
			return 0, fmt.Errorf("registry: %s: %w", cl.op, ctx.Err())
		}
		return 0, fmt.Errorf("registry: %s: %s %s: %w (check that %s is reachable and try again)",
			cl.op, cl.method, cl.path, err, c.BaseURL)
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	c.logger().DebugContext(ctx, "altinn call", "op", cl.op, "method", cl.method, "path", cl.path,
		"status", resp.StatusCode, "duration", time.Since(start))
	if rerr != nil {
		return resp.StatusCode, fmt.Errorf("registry: %s: read the reply: %w (try again)", cl.op, rerr)
	}
	if len(data) > maxBody {
		return resp.StatusCode, fmt.Errorf("registry: %s: reply larger than 1 MiB; is %s really Altinn?", cl.op, c.BaseURL)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data = bytes.ReplaceAll(data, []byte(tok.AccessToken), []byte("[redacted]"))
		pe := parseProblem(cl.op, cl.scope, resp.StatusCode, data)
		if pe.Status == http.StatusForbidden {
			pe.Org, pe.TokenOrg = cl.org, consumerOrg(tok.AccessToken)
		}
		return resp.StatusCode, pe
	}
	if cl.out != nil {
		if len(bytes.TrimSpace(data)) == 0 {
			return resp.StatusCode, fmt.Errorf("registry: %s: Altinn answered %d with an empty body", cl.op, resp.StatusCode)
		}
		if err := json.Unmarshal(data, cl.out); err != nil {
			return resp.StatusCode, fmt.Errorf("registry: %s: unreadable reply (HTTP %d): %w; is %s really Altinn?",
				cl.op, resp.StatusCode, err, c.BaseURL)
		}
	}
	return resp.StatusCode, nil
}

// consumerOrg is the organisation number in the token's consumer claim (the organisation that owns the
// Maskinporten client), read without verifying the token: it only picks a hint. "" when unreadable.
func consumerOrg(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Consumer struct {
			ID string `json:"ID"`
		} `json:"consumer"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return strings.TrimPrefix(claims.Consumer.ID, "0192:")
}

// orgOf is the organisation number a system id starts with ("<orgno>_<name>"), or "".
func orgOf(systemID string) string {
	org, _, ok := strings.Cut(systemID, "_")
	if !ok || len(org) != 9 {
		return ""
	}
	return org
}

// seg escapes one path segment.
func seg(s string) string { return url.PathEscape(s) }

// notFound reports whether err is a 404 that means "no such thing" (see ErrNotFound).
func notFound(err error) bool { return errors.Is(err, ErrNotFound) }
