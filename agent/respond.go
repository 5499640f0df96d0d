package agent

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) write(w http.ResponseWriter) { writeJSON(w, e.status, e) }

func badRequest(code, desc string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, Code: code, Description: desc}
}

// writeJSON writes v as the JSON body. The D16 headers are already set by the guard.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	(&oauthError{status: status, Code: code, Description: desc}).write(w)
}

// retryAfterSeconds is d rounded up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// readForm reads an /oauth2/* request body (D8): form-encoded only, no query string (secrets never go in
// URLs), at most maxBodyBytes (else 413), and no parameter twice (RFC 6749 §3.2).
func readForm(r *http.Request) (url.Values, *oauthError) {
	if r.URL.RawQuery != "" {
		return nil, badRequest("invalid_request", "parameters go in the form body, never in the URL")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	if r.ContentLength > maxBodyBytes {
		return nil, tooLarge()
	}
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge()
		}
		return nil, badRequest("invalid_request", "the form body cannot be parsed")
	}
	for k, v := range r.PostForm {
		if len(v) != 1 {
			return nil, badRequest("invalid_request", "parameter "+strconv.Quote(trimForLog(k))+" is repeated")
		}
	}
	return r.PostForm, nil
}

func tooLarge() *oauthError {
	return &oauthError{status: http.StatusRequestEntityTooLarge, Code: "invalid_request",
		Description: "the body is larger than 16 KiB"}
}

// trimForLog bounds a caller-chosen string before it goes into a description or log.
func trimForLog(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
