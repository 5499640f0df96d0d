package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/registry"
)

// cmdSystem is `agent system register|show`: the organisation's own system in Altinn's System Register.
func cmdSystem(ctx context.Context, e *env, args []string) error {
	verb, rest, err := subcommand(args, "register", "show")
	if err != nil {
		return err
	}
	var c common
	fs := newFlags(e, "system "+verb, &c)
	switch verb {
	case "register":
		fs.Usage = usageLine(fs, "agent system register [--json]",
			"Creates the system in Altinn's System Register, or updates it when the config changed (never a duplicate).")
	case "show":
		fs.Usage = usageLine(fs, "agent system show [--json]", "Shows the system as Altinn has it, and the saved state.")
	}
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
			return printJSON(out, systemRegisterJSON{SystemID: st.System.ID, Outcome: string(res.Outcome),
				Changed: res.Changed, InternalID: res.InternalID, State: st.System})
		}
		return nil // the events said it
	}
	st, err := config.LoadState(stateDirOf(&c))
	if err != nil {
		return err
	}
	sys, err := s.Registry.GetSystem(ctx, s.Config.System.ID)
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("system %s is not in Altinn's System Register: run `agent system register`", s.Config.System.ID)
	}
	if err != nil {
		return err
	}
	view := systemViewOf(sys)
	if c.json {
		return printJSON(out, systemShowJSON{System: view, State: st.System})
	}
	printSystem(out, view, st.System)
	return nil
}

// usageLine sets a FlagSet's usage to a synopsis, a sentence and the flags.
func usageLine(fs *flag.FlagSet, synopsis, what string) func() {
	return func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s\n\nFlags:\n", synopsis, what)
		fs.PrintDefaults()
	}
}

type systemRegisterJSON struct {
	SystemID   string             `json:"system_id"`
	Outcome    string             `json:"outcome"`
	Changed    []string           `json:"changed,omitempty"`
	InternalID string             `json:"internal_id,omitempty"`
	State      config.SystemState `json:"state"`
}

type systemShowJSON struct {
	System systemView         `json:"system"`
	State  config.SystemState `json:"state"`
}

// systemView is the system as `agent system show` prints it.
type systemView struct {
	ID                  string            `json:"id"`
	VendorOrg           string            `json:"vendor_org"`
	Name                map[string]string `json:"name"`
	Description         map[string]string `json:"description"`
	Rights              []string          `json:"rights"`
	AccessPackages      []string          `json:"access_packages"`
	ClientIDs           []string          `json:"client_ids"`
	AllowedRedirectURLs []string          `json:"allowed_redirect_urls,omitempty"`
	Visible             bool              `json:"visible"`
	Deleted             bool              `json:"deleted"`
}

func systemViewOf(s *registry.System) systemView {
	v := systemView{ID: s.ID, VendorOrg: s.VendorOrg, Name: s.Name, Description: s.Description,
		Rights: []string{}, AccessPackages: append([]string{}, s.AccessPackages...), ClientIDs: append([]string{}, s.ClientIDs...),
		AllowedRedirectURLs: s.AllowedRedirectURLs, Visible: s.IsVisible, Deleted: s.IsDeleted}
	for _, r := range s.Rights {
		var parts []string
		for _, a := range r.Resource {
			if a.ID == "urn:altinn:resource" {
				parts = append(parts, a.Value)
			} else {
				parts = append(parts, a.ID+"="+a.Value)
			}
		}
		txt := strings.Join(parts, ",")
		if r.Action != "" {
			txt += " (" + r.Action + ")"
		}
		v.Rights = append(v.Rights, txt)
	}
	return v
}

func printSystem(w io.Writer, v systemView, st config.SystemState) {
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
