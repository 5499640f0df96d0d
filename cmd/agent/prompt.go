package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The wizard's prompt framework (STYLE.md §2.9, after smallstep's `step ca init`): every question has a
// flag, and a flag's value goes through the same validator as a typed answer. Prompts, explanations and
// re-asks go to stderr; results go to stdout. On a terminal a question shows its default and one line of
// explanation, and an invalid answer is asked again with the reason. With --non-interactive the answers
// come from flags, then the config file, then built-in defaults, and nothing is asked. With neither a
// terminal nor --non-interactive the wizard asks nothing and stops, listing the flags it needs.

// askMode says where answers come from.
type askMode int

const (
	// modeInteractive asks on the terminal what no flag answered.
	modeInteractive askMode = iota
	// modeFlags (--non-interactive) takes flags, then the config file, then defaults; it asks nothing.
	modeFlags
	// modeNoTTY asks nothing and only collects the flags still needed, so the command can stop at once.
	modeNoTTY
)

// maxTries bounds how often one question is asked again after an invalid answer.
const maxTries = 10

// question is one thing the wizard needs to know.
type question struct {
	// flag answers the question in scripts (without the leading dashes).
	flag string
	// title is the short prompt, e.g. "Organisation number".
	title string
	// help is one line: what the answer is for and where to find it.
	help string
	// def is the default answer: the config file's value or a built-in one; "" means none.
	def string
	// optional allows an empty answer when there is no default.
	optional bool
	// empty says why an empty answer is refused; "" means "an answer is needed".
	empty string
	// check validates an answer and returns it normalised. The same function checks flag values.
	check func(string) (string, error)
}

// asker gets answers: from flags, from defaults, or by asking on the terminal.
type asker struct {
	mode  askMode
	in    *lineReader // reads the terminal (modeInteractive only)
	out   io.Writer   // prompts and explanations (stderr)
	flags map[string]string
	// missing are the flags a non-interactive run still needs, with what each is.
	missing []string
	// incomplete is set once an answer is missing, so defaults derived from it are not reported too.
	incomplete bool
}

// flagSet reports whether the flag was given on the command line.
func (a *asker) flagSet(name string) bool {
	_, ok := a.flags[name]
	return ok
}

// ask returns q's answer: the flag's value (checked; an invalid one is a usage error), else on a
// terminal the typed answer (asked again with the reason while invalid), else the default. With no
// answer in a non-interactive mode it records q's flag as missing and returns "".
func (a *asker) ask(ctx context.Context, q question) (string, error) {
	if v, ok := a.flags[q.flag]; ok {
		out, err := runCheck(q, v)
		if err != nil {
			return "", usageError{fmt.Sprintf("--%s %q: %v", q.flag, v, err)}
		}
		return out, nil
	}
	if a.mode != modeInteractive {
		return a.fromDefault(q)
	}
	fmt.Fprintf(a.out, "\n%s  (--%s)\n  %s\n", q.title, q.flag, q.help)
	for try := 0; try < maxTries; try++ {
		if q.def != "" {
			fmt.Fprintf(a.out, "  [%s] > ", q.def)
		} else {
			fmt.Fprint(a.out, "  > ")
		}
		line, err := a.in.read(ctx, false)
		if err != nil {
			return "", inputError(q, err)
		}
		ans := strings.TrimSpace(line)
		if ans == "" {
			ans = q.def
		}
		out, err := runCheck(q, ans)
		if err == nil {
			return out, nil
		}
		fmt.Fprintf(a.out, "  ✗ %v\n", err)
	}
	return "", fmt.Errorf("%s: %d invalid answers in a row; stopping (nothing was written). Give it with --%s", q.title, maxTries, q.flag)
}

// fromDefault answers q without asking: the default if it is valid, else "" with q's flag recorded as
// missing (unless an earlier missing answer explains the bad default).
func (a *asker) fromDefault(q question) (string, error) {
	if q.def == "" && q.optional {
		return "", nil
	}
	if q.def != "" {
		out, err := runCheck(q, q.def)
		if err == nil {
			return out, nil
		}
		if a.incomplete {
			return "", nil
		}
		if a.mode == modeFlags {
			return "", usageError{fmt.Sprintf("%s: the value %q from the config file or default is not valid: %v; give --%s", q.title, q.def, err, q.flag)}
		}
	}
	a.need("--"+q.flag, q.title)
	return "", nil
}

// need records a flag a non-interactive run lacks.
func (a *asker) need(flag, what string) {
	a.missing = append(a.missing, fmt.Sprintf("  %-28s %s", flag, what))
	a.incomplete = true
}

// confirm asks a yes/no question; def is the default answer.
func (a *asker) confirm(ctx context.Context, flag, title, help string, def bool) (bool, error) {
	d := "no"
	if def {
		d = "yes"
	}
	v, err := a.ask(ctx, question{flag: flag, title: title, help: help, def: d, check: checkYesNo})
	return v == "yes", err
}

// secret reads a secret without echo (interactive only). It is never a flag value: secrets come from
// --*-file flags or stdin.
func (a *asker) secret(ctx context.Context, title, help string) ([]byte, error) {
	if a.mode != modeInteractive {
		return nil, errors.New("no terminal to ask for " + title)
	}
	fmt.Fprintf(a.out, "\n%s\n  %s\n  (typing is not shown) > ", title, help)
	line, err := a.in.read(ctx, true)
	fmt.Fprintln(a.out)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", title, err)
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

// missingError is the usage error of a run that lacks answers: it lists every flag still needed.
func (a *asker) missingError() error {
	if len(a.missing) == 0 {
		return nil
	}
	var b strings.Builder
	if a.mode == modeNoTTY {
		b.WriteString("no terminal to ask questions on (stdin is not a terminal) and no --non-interactive: nothing was done.\n" +
			"Run it in a terminal, or pass --non-interactive with the answers as flags. Still needed:\n")
	} else {
		b.WriteString("--non-interactive takes its answers from flags and the config file, and these are missing (nothing was written):\n")
	}
	b.WriteString(strings.Join(a.missing, "\n"))
	return usageError{b.String()}
}

func runCheck(q question, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" && q.optional {
		return "", nil
	}
	if v == "" && q.empty != "" {
		return "", errors.New(q.empty)
	}
	if v == "" {
		return "", errors.New("an answer is needed")
	}
	if q.check == nil {
		return v, nil
	}
	return q.check(v)
}

func inputError(q question, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("input ended before %q was answered; nothing was written (give it with --%s)", q.title, q.flag)
	}
	return err
}

// checkYesNo accepts yes/no, y/n, true/false.
func checkYesNo(s string) (string, error) {
	switch strings.ToLower(s) {
	case "y", "yes", "true", "j", "ja":
		return "yes", nil
	case "n", "no", "false", "nei":
		return "no", nil
	}
	return "", fmt.Errorf("answer yes or no")
}
