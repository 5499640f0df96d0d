package config

import (
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem with a value: the field path in YAML names (e.g. "clients[1].scopes[0]") and
// what is wrong and how to fix it. Parse fills File and Line when it knows where the field is.
type FieldError struct {
	// Path is the field's path, e.g. "system_users[0].external_ref".
	Path string
	// Msg says what is wrong and how to fix it. It never contains a secret.
	Msg string
	// File is the configuration file, when known.
	File string
	// Line is the 1-based line of the field, or 0 when unknown.
	Line int
}

// Error implements error as "path: msg", prefixed by "file:line: " when known.
func (e FieldError) Error() string {
	if e.File != "" && e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
	}
	if e.File != "" {
		return fmt.Sprintf("%s: %s: %s", e.File, e.Path, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// Errors are all the problems Validate found, in field order.
type Errors []FieldError

// Error implements error with one problem per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the single FieldErrors.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, fe := range e {
		errs[i] = fe
	}
	return errs
}

// Has reports whether a problem with exactly this path was found.
func (e Errors) Has(path string) bool {
	return slices.ContainsFunc(e, func(fe FieldError) bool { return fe.Path == path })
}

type problems struct{ errs Errors }

func (p *problems) add(path, format string, args ...any) {
	p.errs = append(p.errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}
