package main

import (
	"context"
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
