package sandbox

import (
	"fmt"
	"net/http"
)

// grantError is a rejected token request: HTTP status, OAuth error, the MP code ("" where Maskinporten
// documents none) and the public text. It never holds the assertion.
//
// The codes follow maskinporten.md §4; where the contract marks the OAuth error [U] the sandbox picks:
//
//	transport (method, content type, form, client auth)  400 invalid_request (405 for the method), no code
//	wrong grant_type                                      400 unsupported_grant_type, no code
//	unreadable grant, header, undocumented claim, jti     400 invalid_request MP-011
//	unknown client (iss)                                  400 invalid_grant MP-100
//	aud                                                   400 invalid_grant MP-110
//	x5c: untrusted chain / org / shape                    400 invalid_grant MP-120 / MP-122 / MP-123
//	expired key / unknown kid or bad signature            400 invalid_grant MP-121 / MP-124
//	exp, iat, exp−iat                                     400 invalid_grant MP-130
//	jti used before                                       400 invalid_grant MP-012
//	scope missing or not on the client / not granted org  400 invalid_scope MP-200 / MP-250
//	authorization_details type / member / value           400 invalid_authorization_details MP-301/302/303 (RFC 9396 §5)
//	no matching system user                               400 invalid_altinn_customer_configuration MP-303
type grantError struct {
	status int
	err    string
	code   string
	text   string
}

func newGrantError(status int, oauthErr, code, text string) *grantError {
	return &grantError{status: status, err: oauthErr, code: code, text: text}
}

// badAssertion is MP-011: the grant cannot be read or carries something not documented.
func badAssertion(format string, args ...any) *grantError {
	return newGrantError(http.StatusBadRequest, "invalid_request", "MP-011",
		"Invalid assertion. Invalid parameter value: "+fmt.Sprintf(format, args...))
}

func invalidGrant(code, format string, args ...any) *grantError {
	return newGrantError(http.StatusBadRequest, "invalid_grant", code, "Invalid assertion. "+fmt.Sprintf(format, args...))
}

func invalidRAR(code, format string, args ...any) *grantError {
	return newGrantError(http.StatusBadRequest, "invalid_authorization_details", code,
		"Invalid authorization_details. "+fmt.Sprintf(format, args...))
}

func badTransport(format string, args ...any) *grantError {
	return newGrantError(http.StatusBadRequest, "invalid_request", "", fmt.Sprintf(format, args...))
}

// counterKey names the error in Stats.Errors: the MP code, else the OAuth error.
func (e *grantError) counterKey() string {
	if e.code != "" {
		return e.code
	}
	return e.err
}

// write sends the error as Maskinporten does: {"error", "error_description"} where the description ends
// with "(MP-nnn)" and a unique correlation id, which it returns for the log.
func (e *grantError) write(w http.ResponseWriter) string {
	corr := newUUID()
	desc := e.text
	if e.code != "" {
		desc += " (" + e.code + ")"
	}
	desc += " Correlation id: " + corr
	if e.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	writeJSON(w, e.status, map[string]string{"error": e.err, "error_description": desc})
	return corr
}
