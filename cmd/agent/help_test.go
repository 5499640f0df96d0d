package main

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestHelpScreens: "agent keys -h" (and every command with verbs) prints its usage, a sentence and an
// example and exits 0, instead of "unknown subcommand -h"; "agent help setup" is "agent setup -h".
func TestHelpScreens(t *testing.T) {
	ctx := context.Background()
	for _, c := range []string{"keys", "system", "request", "service", "clients"} {
		for _, h := range []string{"-h", "--help", "help"} {
			res := runCmd(ctx, []string{c, h}, nil)
			if res.code != exitOK || !strings.Contains(res.stdout, "Usage: agent "+c+" <") ||
				!strings.Contains(res.stdout, "Example: agent "+c+" ") || strings.Contains(res.stderr, "unknown subcommand") {
				t.Errorf("agent %s %s: exit %d\nstdout:\n%s\nstderr:\n%s", c, h, res.code, res.stdout, res.stderr)
			}
		}
	}
	setupHelp := runCmd(ctx, []string{"setup", "-h"}, nil)
	viaHelp := runCmd(ctx, []string{"help", "setup"}, nil)
	if viaHelp.code != exitOK || viaHelp.stdout+viaHelp.stderr != setupHelp.stdout+setupHelp.stderr ||
		!strings.Contains(viaHelp.stdout+viaHelp.stderr, "Usage: agent setup") {
		t.Errorf("agent help setup (exit %d) differs from agent setup -h:\n%s%s", viaHelp.code, viaHelp.stdout, viaHelp.stderr)
	}
}

// TestEveryCommandHasHelp: each command's and verb's -h gives a usage line, what it does and an
// example before its flags, and help.txt holds no screen for a command that does not exist.
func TestEveryCommandHasHelp(t *testing.T) {
	names := []string{"demo", "setup", "run", "token", "doctor", "sandbox", "version",
		"keys generate", "keys import", "keys public", "keys list", "keys delete", "keys rotate", "keys activate", "keys jwks", "keys upload",
		"system register", "system show", "request create", "request status", "request wait",
		"service install", "service uninstall", "service start", "service stop", "service restart", "service status", "service reload",
		"clients add", "clients rotate", "clients remove", "clients list"}
	for _, name := range names {
		res := runCmd(context.Background(), append(strings.Fields(name), "-h"), nil)
		out := res.stdout + res.stderr
		usage := strings.Index(out, "Usage: agent "+name)
		example := strings.Index(out, "\nExample: agent ")
		if res.code != exitOK || usage != 0 || example < 0 || strings.Count(out[usage:example], "\n") < 1 {
			t.Errorf("agent %s -h (exit %d) lacks a usage line, a sentence or an example:\n%s", name, res.code, out)
		}
	}
	for _, line := range strings.Split(helpText, "\n") {
		if name, ok := strings.CutPrefix(line, "## "); ok && !slices.Contains(names, name) {
			t.Errorf("help.txt has a screen for %q, which is not a command", name)
		}
	}
}
