package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// cmdSystem is `agent system register|show`: the organisation's own system in Altinn's System Register.
func cmdSystem(ctx context.Context, e *env, args []string) error {
	verb, rest, err := subcommand(args, "register", "show")
	if err != nil {
		return err
	}
	var c common
	fs := newFlags(e, "system "+verb, &c)
	if err := parse(fs, rest, false); err != nil {
		return err
	}
	out := e.stdout
	s, err := openSetup(ctx, &c, out)
	if err != nil {
		return err
	}
	if c.json {
		s.Events = nil // one JSON document at the end
	}
	if verb == "register" {
		st, res, err := s.RegisterSystem(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(out, map[string]any{"system_id": st.System.ID, "outcome": res.Outcome,
				"changed": res.Changed, "internal_id": res.InternalID, "state": st.System})
		}
		return nil // the events said it
	}
	st, err := config.LoadState(stateDirOf(&c))
	if err != nil {
		return err
	}
	view, err := s.ShowSystem(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(out, map[string]any{"system": view, "state": st.System})
	}
	printSystem(out, view, st.System)
	return nil
}

func printSystem(w io.Writer, v setup.SystemView, st config.SystemState) {
	line := func(k, val string) { fmt.Fprintf(w, "%-16s %s\n", k+":", val) }
	line("system", v.ID)
	line("vendor", "0192:"+v.VendorOrg)
	line("name (nb)", v.Name["nb"])
	line("rights", orNone(strings.Join(v.Rights, ", ")))
	line("access packages", orNone(strings.Join(v.AccessPackages, ", ")))
	line("client ids", orNone(strings.Join(v.ClientIDs, ", ")))
	line("visible", fmt.Sprint(v.Visible))
	if v.Deleted {
		line("deleted", "true: this id is burnt; choose a new system.id")
	}
	if !st.Registered.IsZero() {
		line("registered", st.Registered.Format("2006-01-02 15:04:05 MST"))
	}
	if !st.Updated.IsZero() {
		line("last written", st.Updated.Format("2006-01-02 15:04:05 MST"))
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
