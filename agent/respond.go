package agent

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
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

// readForm reads an /oauth2/* request body (D8) into sc and parses it into f: form-encoded only, no
// query string (secrets never go in URLs), at most maxBodyBytes (else 413), and no parameter twice (RFC
// 6749 §3.2). It allocates nothing for the usual short form.
func readForm(r *http.Request, sc *scratch, f *oauthForm) *oauthError {
	if r.URL.RawQuery != "" {
		return badRequest("invalid_request", "parameters go in the form body, never in the URL")
	}
	if ct := r.Header["Content-Type"]; len(ct) == 0 || ct[0] != formType { // the exact type needs no parsing
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != formType {
			return badRequest("invalid_request", "the body must be application/x-www-form-urlencoded")
		}
	}
	if r.ContentLength > maxBodyBytes {
		return tooLarge()
	}
	body, err := readAllInto(sc.bodyA[:0], r.Body)
	sc.body = body
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge()
		}
		return badRequest("invalid_request", "the form body cannot be read")
	}
	return parseForm(body, f)
}

// formType is the only request body type of /oauth2/*.
const formType = "application/x-www-form-urlencoded"

// readAllInto reads r to the end, appending to b (room for the usual short form up front). The guard
// has bounded r with http.MaxBytesReader.
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
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
