package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/doctor"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// cmdDoctor is `agent doctor`: every check of package doctor, each finding with its severity and what
// to do. Exit code 1 when any finding is an error.
func cmdDoctor(ctx context.Context, e *env, args []string) error {
	var c common
	fs := newFlags(e, "doctor", &c)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	o := doctor.Options{ConfigPath: c.config, StateDir: stateDirOf(&c), OpenKeyStore: openKeyStore, Tokens: setup.TokenSource, Command: e.prog}
	if so, err := serviceOptions(&c, ""); err == nil {
		if inst, err := installer.New(so, nil); err == nil {
			o.Service = inst.Status
			o.ServiceAccount = installer.Account(inst.Options())
		}
	}
	rep := doctor.Run(ctx, o)
	if c.json {
		if err := printJSON(e.stdout, struct {
			OK bool `json:"ok"`
			doctor.Report
		}{!rep.Failed(), rep}); err != nil {
			return err
		}
	} else {
		printReport(e.stdout, rep)
	}
	if rep.Failed() {
		return exitCodeError{code: exitError, err: fmt.Errorf("%d problem(s) need fixing (see above)", rep.Count(doctor.SevError))}
	}
	return nil
}

// printReport prints one block per finding: a mark, the message, and the fix indented below.
func printReport(w io.Writer, rep doctor.Report) {
	marks := map[doctor.Severity]string{doctor.SevOK: "ok  ", doctor.SevInfo: "info", doctor.SevWarning: "WARN", doctor.SevError: "FAIL"}
	for _, f := range rep.Findings {
		lines := strings.Split(f.Message, "\n")
		fmt.Fprintf(w, "[%s] %-8s %s\n", marks[f.Severity], f.Check, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "%17s %s\n", "", l)
		}
		if f.Fix != "" {
			fmt.Fprintf(w, "%17s → %s\n", "", f.Fix)
		}
	}
	fmt.Fprintf(w, "\n%d error(s), %d warning(s).\n", rep.Count(doctor.SevError), rep.Count(doctor.SevWarning))
}
