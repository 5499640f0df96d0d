package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/installer"
)

// Exit codes, as documented in the README.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitWaiting = 3
	// exitInterrupted is the shell's code for a command stopped by Ctrl-C (128 + SIGINT).
	exitInterrupted = 130
)

// env is what a command may touch of the outside world. Tests pass their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// getenv reads the environment; nil means none (tests) — see main.go for the real one.
	getenv func(string) string
	// prog is the name the user ran the program by (systemuser-agent, agent.exe); "" means agent.
	prog string
}

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the table of subcommands, in the order "agent help" lists them.
func commands() []command {
	return []command{
		{"demo", "run the whole journey offline on the embedded sandbox", cmdDemo},
		{"setup", "set up from nothing to a running service (wizard, or --non-interactive)", cmdSetup},
		{"run", "serve tokens in the foreground (what the service runs)", cmdRun},
		{"token", "fetch one token from upstream, for debugging", cmdToken},
		{"keys", "manage the Maskinporten key: generate, import, public, list, delete, rotate, activate", cmdKeys},
		{"system", "the organisation's system in Altinn's System Register: register, show", cmdSystem},
		{"request", "the system user request: create, status, wait", cmdRequest},
		{"service", "the OS service: install, uninstall, start, stop, restart, status, reload", cmdService},
		{"clients", "the local callers: add, list, remove, rotate (secrets written once to a file)", cmdClients},
		{"doctor", "check config, key, upstreams, clock, requests, service and port; say how to fix", cmdDoctor},
		{"sandbox", "run the fake Maskinporten and Altinn standalone", cmdSandbox},
		{"version", "print the version", cmdVersion},
	}
}

// usageError marks a bad command line: exit code 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// exitCodeError carries a specific exit code with its message (e.g. 3 while waiting for approval).
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

// run dispatches args to a command and turns its error into an exit code. It prints errors once.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 2 && args[0] == "help" { // "agent help setup" is "agent setup -h"
		return run(ctx, []string{args[1], "-h"}, e)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) { // Ctrl-C: one line, exit 130
			msg := strings.TrimSuffix(err.Error(), ": "+context.Canceled.Error())
			fmt.Fprintf(e.stderr, "agent %s: %s\n", c.name, map[bool]string{true: "interrupted", false: msg}[msg == context.Canceled.Error()])
			return exitInterrupted
		}
		return report(e, c.name, err)
	}
	fmt.Fprintf(e.stderr, "agent: unknown command %q\n\n", args[0])
	printHelp(e.stderr)
	return exitUsage
}

// report prints err (if any) to stderr and returns its exit code.
func report(e *env, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if verbs, ok := err.(verbsHelp); ok { // "agent keys -h": the verbs, each with its own -h
		i := slices.IndexFunc(commands(), func(c command) bool { return c.name == name })
		fmt.Fprintf(e.stdout, "Usage: agent %s <%s> [flags]\n\n%s.\n\nExample: agent %s %s\nRun \"agent %s <verb> -h\" for a verb's "+
			"flags and an example.\n", name, strings.Join(verbs, "|"), commands()[i].summary, name, verbs[0], name)
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "agent %s: %s\n(run \"agent %s -h\" for its flags)\n", name, ue.msg, name)
		return exitUsage
	}
	var ce exitCodeError
	if errors.As(err, &ce) {
		fmt.Fprintf(e.stderr, "agent %s: %v\n", name, ce.err)
		return ce.code
	}
	fmt.Fprintf(e.stderr, "agent %s: %v\n", name, err)
	return exitError
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, "systemuser-agent: Altinn system-user tokens for your own software, served on localhost.\n\nUsage: agent <command> [flags]\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nCommon flags: --config PATH, --state-dir DIR, --json. Exit codes: 0 done, 1 error, 2 usage,\n3 waiting for approval, 130 interrupted (Ctrl-C). \"agent help COMMAND\" explains a command.\n")
}

// common holds the flags most commands share.
type common struct {
	config   string
	stateDir string
	json     bool
}

// newFlags makes a FlagSet for a command, with --config, --state-dir and --json bound to c.
func newFlags(e *env, name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet("agent "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprintf(fs.Output(), "Usage: %s\nFlags:\n", helpFor(name)); fs.PrintDefaults() }
	if c != nil {
		fs.StringVar(&c.config, "config", installer.DefaultConfigPath(), "configuration file")
		fs.StringVar(&c.stateDir, "state-dir", "", "state directory (default: "+installer.ServiceStateDir()+", the service's own)")
		fs.BoolVar(&c.json, "json", false, "print machine-readable JSON")
	}
	return fs
}

// parse parses args, turning flag errors into usage errors and refusing stray positional arguments
// unless allowArgs.
func parse(fs *flag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if !allowArgs && fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// printJSON writes v as indented JSON with a newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// verbsHelp asks for the help of a command with verbs (agent keys -h); report prints it.
type verbsHelp []string

func (verbsHelp) Error() string { return "help" }

// subcommand splits "agent keys generate ..." into the verb and its args, or returns a usage error
// listing the verbs.
func subcommand(args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, usageError{"missing subcommand; one of: " + strings.Join(verbs, ", ")}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return "", nil, verbsHelp(verbs)
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, usageError{fmt.Sprintf("unknown subcommand %q; one of: %s", args[0], strings.Join(verbs, ", "))}
}
