package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNotFound is matched (errors.Is) by a 404 that means "no such thing": an empty 404, a plain-string 404,
// AUTH-00010 (request unknown or deleted) and AUTH-00012. AUTH-00011 (system unknown or another vendor's)
// is not ErrNotFound: it needs the system fixed, not a create.
var ErrNotFound = errors.New("registry: not found")

// Altinn codes the client and its callers act on.
const (
	// CodeSystemUserExists: a system user already exists for system, org and externalRef (HTTP 400).
	CodeSystemUserExists = "AUTH-00004"
	// CodeRequestUnknown: the request is unknown or deleted (HTTP 404).
	CodeRequestUnknown = "AUTH-00010"
	// CodeSystemUnknown: the system is unknown or belongs to another vendor (HTTP 404).
	CodeSystemUnknown = "AUTH-00011"
	// CodeRequestAnswered: approve/reject of a request that is no longer New (HTTP 409).
	CodeRequestAnswered = "AUTH-00013"
	// CodeSystemIDTaken: the system id exists, deleted systems included (validation, HTTP 400).
	CodeSystemIDTaken = "AUTH.VLD-00002"
	// CodeClientIDTaken: the Maskinporten client id is on another live system (validation, HTTP 400).
	CodeClientIDTaken = "AUTH.VLD-00004"
)

// ProblemError is an error reply from Altinn: the v5 ProblemDetails fields, also filled from v4 (`detail`),
// ASP.NET `errors` objects, plain strings and empty bodies. Error() names the code, the message and what
// the user should do (Hint).
type ProblemError struct {
	// Op is what the client was doing, e.g. "register system 310000001_sap".
	Op string
	// Status is the HTTP status.
	Status int
	// Code is the Altinn code (AUTH-00011, STD-00000), empty if the reply had none.
	Code string
	// Title is the message: title, else detail, else the plain-text body.
	Title string
	// Detail is v4's detail when it differs from Title.
	Detail string
	// Validation lists validationErrors (or ASP.NET errors, with the member as the path).
	Validation []ValidationError
	// TraceID is Altinn's traceId, for Altinn support.
	TraceID string
	// Scope is the scope the endpoint needs; a 403 with no code means the token lacks it.
	Scope string
	// Org is the organisation a refused (403) call was for, and TokenOrg the organisation that owns the
	// Maskinporten client (the token's consumer); when they differ, that is the cause. Empty when unknown.
	Org, TokenOrg string
}

// ValidationError is one entry of validationErrors.
type ValidationError struct {
	// Code is e.g. AUTH.VLD-00004 (empty for ASP.NET model errors).
	Code string
	// Title is the message.
	Title string
	// Paths are the offending members, e.g. /registersystemrequest/clientid.
	Paths []string
}

// Error says what failed, Altinn's code and message, and what to do.
func (e *ProblemError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "registry: %s: Altinn answered HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Title != "" {
		fmt.Fprintf(&b, " %q", e.Title)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	for i, v := range e.Validation {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep + strings.TrimSpace(v.Code+" "+fmt.Sprintf("%q", v.Title)))
		if len(v.Paths) > 0 {
			b.WriteString(" at " + strings.Join(v.Paths, ", "))
		}
	}
	if h := e.Hint(); h != "" {
		b.WriteString(". To fix: " + h)
	}
	if e.TraceID != "" {
		b.WriteString(" (traceId " + e.TraceID + ")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) true for the 404s ErrNotFound describes.
func (e *ProblemError) Is(target error) bool {
	if target != ErrNotFound || e.Status != 404 {
		return false
	}
	return e.Code == "" || sameCode(e.Code, CodeRequestUnknown) || sameCode(e.Code, "AUTH-00012")
}

// Has reports whether code is the reply's code or one of its validation codes. "VLD-00002" matches
// "AUTH.VLD-00002"; case is ignored.
func (e *ProblemError) Has(code string) bool {
	if sameCode(e.Code, code) {
		return true
	}
	for _, v := range e.Validation {
		if sameCode(v.Code, code) {
			return true
		}
	}
	return false
}

func sameCode(a, b string) bool {
	norm := func(s string) string { return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "AUTH.") }
	return a != "" && b != "" && norm(a) == norm(b)
}

// hints says what to do per Altinn code (validation codes without their "AUTH." prefix).
var hints = map[string]string{
	"VLD-00000":  "the vendor must be 0192:<organisation number>; check organization in the config",
	"VLD-00001":  "the system id must be <organisation number>_<name>: fix system.id in the config",
	"VLD-00002":  "this system id is taken for ever (also by a deleted system): choose a new system.id in the config",
	"VLD-00003":  "a right names a resource Altinn does not know: fix system.rights in the config",
	"VLD-00009":  "a right's attribute id must be urn:altinn:resource: fix system.rights in the config",
	"VLD-00017":  "a right names a resource that cannot be delegated (e.g. a Maskinporten schema): remove it from system.rights",
	"VLD-00004":  "the Maskinporten client id is already on another live system: delete that system or remove the client id from it, or use another Maskinporten client",
	"VLD-00011":  "the same client id is listed twice: fix maskinporten.client_id",
	"VLD-00005":  "redirect URLs must be absolute https URLs",
	"VLD-00006":  "a right is listed twice: remove the duplicate from system.rights",
	"VLD-00007":  "an access package is listed twice: remove the duplicate from system.access_packages",
	"VLD-00008":  "an access package is malformed, unknown, or neither delegable nor assignable: fix system.access_packages",
	"VLD-00012":  "the system id in the body differs from the one in the URL (a bug: report it)",
	"VLD-00013":  "the system id must not contain spaces: fix system.id in the config",
	"VLD-00018":  "a visible system cannot carry client-relation access packages (the agent registers systems invisible; report it)",
	"AUTH-00000": "the organisation number is not in Altinn's Register for this environment: check organization (TT02 needs a test organisation)",
	"AUTH-00001": "a requested right is not on the system (or none were requested): re-run `agent system register` so the system carries it, or fix system_users[].rights",
	"AUTH-00004": "a system user already exists for this system, organisation and externalRef: do not request a new one; `agent setup` compares its rights with the config and sends a change request when they differ",
	"AUTH-00006": "a request already exists (Accepted): nothing to request",
	"AUTH-00007": "a request already exists and waits for approval: open its confirm URL (`agent request status`); for a change request: the correlation id is taken by another vendor (run `agent setup` again for a new one)",
	"AUTH-00008": "a request already exists and was denied: run `agent request create --new-request`",
	"AUTH-00009": "a request already exists and was rejected: run `agent request create --new-request`",
	"AUTH-00010": "the request is unknown or deleted: run `agent request create` to make a new one",
	"AUTH-00011": "the system is unknown in Altinn or belongs to another vendor: run `agent system register`, and check that the Maskinporten client belongs to the organisation",
	"AUTH-00012": "the request was not stored: run `agent request create` again",
	"AUTH-00013": "the request was already answered: see `agent request status`",
	"AUTH-00015": "the system user is unknown or deleted in Altinn (or an agent system user): run `agent setup --new-request` to request a new one",
	"AUTH-00061": "the change request id belongs to another vendor's change request: run `agent setup` again for a new id",
	"AUTH-00017": "the system has no Norwegian bokmål (nb) name: set system.name.nb and run `agent system register`",
	"AUTH-00021": "the redirect URL is not one of the system's allowed redirect URLs",
	"AUTH-00026": "the system has no allowed redirect URLs: drop the redirect URL",
	"AUTH-00023": "Altinn could not read the vendor (consumer) from the token: the token must be the organisation's own Maskinporten token",
	"AUTH-00058": "an agent request needs access packages",
	"AUTH-00059": "the request has neither rights nor access packages: give the system (and system user) at least one right or package",
	"AUTH-00063": "an access package is not on the system: add it to system.access_packages and run `agent system register`",
	"AUTH-00064": "an access package cannot be assigned to a standard system user: remove it",
	"AUTH-00065": "an access package cannot be delegated to an agent system user: remove it",
}

// Hint says what the user should do about e, or "" when there is nothing specific to say.
func (e *ProblemError) Hint() string {
	var hs []string
	add := func(code string) {
		h := hints[strings.TrimPrefix(strings.ToUpper(code), "AUTH.")]
		for _, x := range hs {
			if x == h {
				return
			}
		}
		if h != "" {
			hs = append(hs, h)
		}
	}
	add(e.Code)
	for _, v := range e.Validation {
		add(v.Code)
	}
	if len(hs) > 0 {
		return strings.Join(hs, "; ")
	}
	switch {
	case e.Status == 401:
		return "Altinn did not accept the organisation's Maskinporten token (missing, expired, from another environment's Maskinporten, or without a usable consumer): check the endpoints for this environment, the clock, and maskinporten.client_id"
	case e.Status == 403 && e.Org != "" && e.TokenOrg != "" && e.Org != e.TokenOrg:
		return "the Maskinporten client (maskinporten.client_id) belongs to organisation " + e.TokenOrg +
			", not to " + e.Org + " (the config's organization): use " + e.Org + "'s own Maskinporten client, " +
			"or set organization to " + e.TokenOrg + " if that is the organisation"
	case e.Status == 403 && e.Scope != "":
		return "the token lacks scope " + e.Scope + " (Digdir must grant it to the organisation, then add it to the Maskinporten client), or the system belongs to another organisation than the token's"
	case e.Status == 403:
		return "the token lacks a scope this call needs, or the system belongs to another organisation"
	case e.Status == 404:
		return "Altinn does not know it (or it belongs to another organisation)"
	case e.Status == 409:
		return "another change to the same thing was in progress: run the command again"
	case e.Status == 429:
		return "Altinn is limiting the request rate: wait a minute and run the command again"
	case e.Status >= 500:
		return "Altinn is having trouble: run the command again later (give Altinn support the traceId if it persists)"
	}
	return ""
}

// problemBody is every problem shape Altinn has sent: v5, v4 and ASP.NET model-validation problems.
type problemBody struct {
	Type             string                     `json:"type"`
	Title            string                     `json:"title"`
	Detail           string                     `json:"detail"`
	Code             string                     `json:"code"`
	TraceID          string                     `json:"traceId"`
	ValidationErrors []validationBody           `json:"validationErrors"`
	Errors           map[string]json.RawMessage `json:"errors"`
}

type validationBody struct {
	Code   string   `json:"code"`
	Title  string   `json:"title"`
	Detail string   `json:"detail"`
	Paths  []string `json:"paths"`
}

// parseProblem turns an error reply into a *ProblemError. It never fails: unreadable bodies become the
// title (trimmed and shortened).
func parseProblem(op, scope string, status int, data []byte) *ProblemError {
	e := &ProblemError{Op: op, Status: status, Scope: scope}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return e
	}
	var p problemBody
	if text[0] != '{' || json.Unmarshal(data, &p) != nil {
		var s string
		if json.Unmarshal(data, &s) == nil { // a JSON string, e.g. "System not found"
			text = s
		}
		e.Title = shorten(text)
		return e
	}
	e.Code, e.TraceID = p.Code, p.TraceID
	if e.Code == "" {
		e.Code = codeFromType(p.Type)
	}
	e.Title = p.Title
	if e.Title == "" {
		e.Title = p.Detail
	} else if p.Detail != "" && p.Detail != p.Title {
		e.Detail = shorten(p.Detail)
	}
	e.Title = shorten(e.Title)
	for _, v := range p.ValidationErrors {
		t := v.Title
		if t == "" {
			t = v.Detail
		}
		e.Validation = append(e.Validation, ValidationError{Code: v.Code, Title: shorten(t), Paths: v.Paths})
	}
	keys := make([]string, 0, len(p.Errors))
	for k := range p.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var msgs []string
		if json.Unmarshal(p.Errors[k], &msgs) != nil {
			var one string
			if json.Unmarshal(p.Errors[k], &one) != nil {
				one = string(p.Errors[k])
			}
			msgs = []string{one}
		}
		for _, m := range msgs {
			e.Validation = append(e.Validation, ValidationError{Title: shorten(m), Paths: []string{k}})
		}
	}
	return e
}

// codeFromType reads the code from a type like urn:altinn:error:AUTH-00011.
func codeFromType(t string) string {
	const prefix = "urn:altinn:error:"
	if strings.HasPrefix(t, prefix) {
		return strings.TrimPrefix(t, prefix)
	}
	return ""
}

// shorten keeps error text to one readable line.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 300 {
		return string(r[:300]) + "…"
	}
	return s
}
