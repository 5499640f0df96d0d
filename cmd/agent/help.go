package main

import (
	_ "embed"
	"strings"
)

// helpText holds every command's help screen: "## name", a usage line, what it does, an example.
//
//go:embed help.txt
var helpText string

// helpFor returns the help screen of a command ("keys generate"), or just its name when it has none
// (TestEveryCommandHasHelp keeps that from happening).
func helpFor(name string) string {
	_, after, ok := strings.Cut(helpText, "## "+name+"\n")
	if !ok {
		return "agent " + name + "\n"
	}
	text, _, _ := strings.Cut(after, "\n## ")
	return strings.TrimSuffix(text, "\n") + "\n"
}
