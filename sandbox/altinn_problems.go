package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Altinn error bodies (altinn-api.md §2): ProblemDetails v5 with a status derived from the code, v5
// validation problems, plain strings, and empty bodies.

// Problem codes (AUTH-) used by the sandbox.
const (
	codeOrgUnknown      = "AUTH-00000"
	codeRightMismatch   = "AUTH-00001"
	codeUserExists      = "AUTH-00004"
	codeChangeIDTaken   = "AUTH-00007"
	codeRequestUnknown  = "AUTH-00010"
	codeSystemUnknown   = "AUTH-00011"
	codeNotNew          = "AUTH-00013"
	codeUserUnknown     = "AUTH-00015"
	codeDelegation      = "AUTH-00016"
	codeNoNbName        = "AUTH-00017"
	codeRedirectBad     = "AUTH-00021"
	codeNoVendor        = "AUTH-00023"
	codeNoRedirects     = "AUTH-00026"
	codeEmptyRights     = "AUTH-00059"
	codeChangeIDDecided = "AUTH-00061"
	codePackageNotOnSys = "AUTH-00063"
	codePackageNotAssig = "AUTH-00064"
)

// Sandbox-only validation codes for the strict checks of altinn-api.md §9 (the real service ignores
// unknown members and does not check languages), plus the standard "required" code.
const (
	vldRequired      = "STD.VLD-00000"
	vldUnknownMember = "SANDBOX.VLD-00001"
	vldBadJSON       = "SANDBOX.VLD-00002"
	vldLanguages     = "SANDBOX.VLD-00003"
	vldEmptyRef      = "SANDBOX.VLD-00004"
)

// altinnStatus is the HTTP status of an AUTH- problem code (altinn-api.md §2).
func altinnStatus(code string) int {
	switch code {
	case codeRequestUnknown, codeSystemUnknown, codeNoNbName, "AUTH-00012", codeUserUnknown:
		return http.StatusNotFound
	case codeNotNew, codeChangeIDDecided:
		return http.StatusConflict
	case codeNoVendor:
		return http.StatusUnauthorized
	case codeDelegation, "AUTH-00018", "AUTH-00019", "AUTH-00020":
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// altinnProblem is the v5 ProblemDetails body.
type altinnProblem struct {
	Type             string            `json:"type"`
	Title            string            `json:"title"`
	Status           int               `json:"status"`
	Code             string            `json:"code"`
	TraceID          string            `json:"traceId"`
	ValidationErrors []validationError `json:"validationErrors,omitempty"`
}

// validationError is one entry of a validation problem.
type validationError struct {
	Code   string   `json:"code"`
	Title  string   `json:"title"`
	Paths  []string `json:"paths"`
	Detail string   `json:"detail,omitempty"`
}

// AltinnError is the error of an admin action refused the way Altinn would refuse it.
type AltinnError struct {
	Status int    // HTTP status Altinn would answer
	Code   string // AUTH-nnnnn
	Title  string
}

// Error names the code and status; it never contains a token.
func (e *AltinnError) Error() string {
	return fmt.Sprintf("sandbox altinn: %s (%s, HTTP %d)", e.Title, e.Code, e.Status)
}

func newAltinnError(code, title string) *AltinnError {
	return &AltinnError{Status: altinnStatus(code), Code: code, Title: title}
}

// problem writes a v5 problem whose status follows from code.
func (a *altinn) problem(w http.ResponseWriter, code, title string) {
	a.s.countError(code)
	a.writeProblem(w, altinnProblem{Type: "urn:altinn:error:" + code, Title: title, Status: altinnStatus(code), Code: code})
}

// problemErr writes an *AltinnError as a problem.
func (a *altinn) problemErr(w http.ResponseWriter, e *AltinnError) { a.problem(w, e.Code, e.Title) }

// validation writes one 400 with all validation errors.
func (a *altinn) validation(w http.ResponseWriter, errs []validationError) {
	for _, e := range errs {
		a.s.countError(e.Code)
	}
	a.writeProblem(w, altinnProblem{
		Type: "urn:altinn:error:STD-00000", Title: "One or more validation errors occurred.",
		Status: http.StatusBadRequest, Code: "STD-00000", ValidationErrors: errs,
	})
}

func (a *altinn) writeProblem(w http.ResponseWriter, p altinnProblem) {
	p.TraceID = altinnTraceID()
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// altinnErrorsProblem writes the ASP.NET "errors object" problem some endpoints still return (§2).
func altinnErrorsProblem(w http.ResponseWriter, key, msg string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":    "https://tools.ietf.org/html/rfc9110#section-15.5.1",
		"title":   "One or more validation errors occurred.",
		"status":  http.StatusBadRequest,
		"errors":  map[string][]string{key: {msg}},
		"traceId": altinnTraceID(),
	})
}

// altinnText writes a plain-string reply, as ASP.NET does for BadRequest("…") / NotFound("…").
func altinnText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

// altinnJSON writes v as JSON.
func altinnJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// altinnTraceID returns a W3C traceparent-shaped id, as Altinn puts in traceId.
func altinnTraceID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}

// maxAltinnBody bounds request bodies.
const maxAltinnBody = 1 << 20

// altinnDecode decodes a JSON body into v, rejecting unknown members (strict, altinn-api.md §9 item 8),
// bad JSON and trailing data. Member names bind case-insensitively, as in ASP.NET.
func altinnDecode(w http.ResponseWriter, r *http.Request, v any) *validationError {
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAltinnBody))
	d.DisallowUnknownFields()
	err := d.Decode(v)
	if err == nil && d.More() {
		err = errors.New("trailing data after the JSON value")
	}
	if err == nil {
		return nil
	}
	e := altinnDecodeError(err)
	return &e
}

// altinnDecodeError turns a JSON decoding error into the validation error the sandbox answers.
func altinnDecodeError(err error) validationError {
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return validationError{Code: vldUnknownMember, Paths: []string{"/" + name},
			Title: fmt.Sprintf("Unknown member %q (the sandbox is strict: Altinn would silently ignore it).", name)}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return validationError{Code: vldBadJSON, Paths: []string{"/" + strings.ReplaceAll(te.Field, ".", "/")},
			Title: fmt.Sprintf("Member %q has the wrong JSON type (%s).", te.Field, te.Value)}
	}
	return validationError{Code: vldBadJSON, Paths: []string{"/"}, Title: "The request body is not valid JSON: " + err.Error()}
}

// required returns a "required" validation error for a missing member.
func altinnRequired(path string) validationError {
	return validationError{Code: vldRequired, Title: "The member is required.", Paths: []string{path}}
}
