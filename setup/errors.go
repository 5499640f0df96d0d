package setup

import (
	"errors"
	"fmt"
	"strings"
)

// ErrWaiting is matched (errors.Is) by a *WaitingError: a request waits for an administrator. The CLI
// exits with code 3 on it.
var ErrWaiting = errors.New("setup: waiting for approval")

// ErrRequestEnded is matched (errors.Is) by a *RequestEndedError.
var ErrRequestEnded = errors.New("setup: system user request ended without approval")

// Pending is one request that waits for approval.
type Pending struct {
	// SystemUser is the config name of the system user.
	SystemUser string `json:"system_user"`
	// RequestID is Altinn's request id.
	RequestID string `json:"request_id"`
	// ConfirmURL is where an administrator of the organisation approves it.
	ConfirmURL string `json:"confirm_url"`
	// Change is true for a change request of an existing system user's rights (RequestID is then the
	// change request's id).
	Change bool `json:"change,omitempty"`
}

// WaitingError says which requests wait for approval and where to approve them.
type WaitingError struct {
	Pending []Pending
}

// Error names every confirm URL and the command that waits.
func (e *WaitingError) Error() string {
	var b strings.Builder
	changes := 0
	for _, p := range e.Pending {
		if p.Change {
			changes++
		}
	}
	var kinds []string
	if n := len(e.Pending) - changes; n > 0 {
		kinds = append(kinds, fmt.Sprintf("%d system user request(s)", n))
	}
	if changes > 0 {
		kinds = append(kinds, fmt.Sprintf("%d change request(s)", changes))
	}
	fmt.Fprintf(&b, "waiting for approval of %s: ", strings.Join(kinds, " and "))
	for i, p := range e.Pending {
		if i > 0 {
			b.WriteString("; ")
		}
		what := ""
		if p.Change {
			what = " the change of its rights"
		}
		fmt.Fprintf(&b, "system user %q: an administrator of the organisation opens %s and approves%s", p.SystemUser, p.ConfirmURL, what)
	}
	b.WriteString(". Then run `agent request wait` (or `agent request status`)")
	return b.String()
}

// Is makes errors.Is(err, ErrWaiting) true.
func (e *WaitingError) Is(target error) bool { return target == ErrWaiting }

// RequestEndedError says a request was answered with something other than approval, or timed out.
type RequestEndedError struct {
	// SystemUser is the config name of the system user.
	SystemUser string
	// RequestID is Altinn's request id.
	RequestID string
	// Status is Altinn's status: Rejected, Denied, Timedout (or New with TimedOut).
	Status string
	// TimedOut is Altinn's timedOut flag.
	TimedOut bool
}

// Error says what happened and that --new-request makes a new request.
func (e *RequestEndedError) Error() string {
	what := "was " + strings.ToLower(e.Status) + " by an administrator of the organisation"
	if e.TimedOut || strings.EqualFold(e.Status, "Timedout") {
		what = "timed out without an answer"
	}
	return fmt.Sprintf("system user request %s for system user %q %s; Altinn keeps returning it, so run again with --new-request to delete it and send a new one",
		e.RequestID, e.SystemUser, what)
}

// Is makes errors.Is(err, ErrRequestEnded) true.
func (e *RequestEndedError) Is(target error) bool { return target == ErrRequestEnded }
