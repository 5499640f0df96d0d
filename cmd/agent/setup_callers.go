package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// callerQuestions are a caller's questions after its id, in order, with their spec keys.
func (w *wizard) callerQuestions(sus []config.SystemUser, id string) []struct {
	key string
	q   question
} {
	all := make([]string, 0, len(sus))
	for _, su := range sus {
		all = append(all, su.Name)
	}
	return []struct {
		key string
		q   question
	}{
		{"os-user", question{flag: "caller", title: fmt.Sprintf("Caller %q: OS account", id),
			help: "The account the caller's software runs as: only it can read the caller's secret file.", def: currentUser(), check: setup.CheckOSUser}},
		{"system-users", question{flag: "caller", title: fmt.Sprintf("Caller %q: system users", id),
			help: "The system users it may get tokens for, comma-separated; the first is its default.", def: strings.Join(all, ","), check: setup.CheckCallerSystemUsers(sus)}},
		{"scopes", question{flag: "caller", title: fmt.Sprintf("Caller %q: scopes", id),
			help: "The scopes it may ask for, comma-separated (nothing else is allowed)."}},
		{"kind", question{flag: "caller", title: fmt.Sprintf("Caller %q: token kind", id),
			help: "maskinporten: the Maskinporten token; altinn: exchanged for an Altinn token.", def: config.TokenKindMaskinporten, check: setup.CheckTokenKind}},
		{"secret-file", question{flag: "caller", title: fmt.Sprintf("Caller %q: secret file", id),
			help: "Where its secret is written, readable only by its OS account.", def: callersecret.DefaultPath(w.c.config, id), check: setup.CheckAbsPath}},
	}
}

// oneCaller fills a caller from answers: get(key, question) answers each question in turn.
func (w *wizard) oneCaller(sus []config.SystemUser, id string, get func(string, question) (string, error)) (config.Client, error) {
	cl := config.Client{ID: id}
	for _, item := range w.callerQuestions(sus, id) {
		q := item.q
		if item.key == "scopes" {
			allowed := setup.ScopesOf(sus, cl.SystemUsers)
			q.def, q.check = strings.Join(allowed, ","), setup.CheckCallerScopes(allowed)
		}
		v, err := get(item.key, q)
		if err != nil {
			return cl, err
		}
		switch item.key {
		case "os-user":
			cl.OSUser = v
		case "system-users":
			cl.SystemUsers = setup.SplitList(v)
		case "scopes":
			cl.Scopes = setup.SplitList(v)
		case "kind":
			cl.TokenKind = v
		case "secret-file":
			cl.SecretFile = v
		}
	}
	return cl, nil
}

func (w *wizard) askCallers(ctx context.Context, p *wizardPlan) error {
	c := p.cfg
	if len(w.f.callers) > 0 {
		var list []config.Client
		for _, spec := range w.f.callers {
			m, err := setup.ParseSpec(spec, "id", "os-user", "system-users", "scopes", "kind", "secret-file")
			if err == nil {
				var id string
				if id, err = setup.CheckCallerID(list)(m["id"]); err == nil {
					var cl config.Client
					cl, err = w.oneCaller(c.SystemUsers, id, func(key string, q question) (string, error) {
						v, ok := m[key]
						if !ok {
							v = q.def
						}
						out, err := runCheck(q, v)
						if err != nil {
							return "", fmt.Errorf("%s: %w", key, err)
						}
						return out, nil
					})
					list = append(list, cl)
				}
			}
			if err != nil {
				return usageError{fmt.Sprintf("--caller %q: %v", spec, err)}
			}
		}
		c.Clients = list
		return w.makeSecrets(p)
	}
	if w.a.mode != modeInteractive {
		return nil // the config file's callers, if any, stay
	}
	list := w.fittingCallers(c)
	add := len(list) == 0
	title := "Add a local caller now?"
	if len(list) > 0 {
		var ids []string
		for _, cl := range list {
			ids = append(ids, cl.ID)
		}
		fmt.Fprintf(w.e.stderr, "\nLocal callers already set up: %s (they keep their secrets).\n", strings.Join(ids, ", "))
		title = "Add another local caller?"
	}
	for i := 0; i < maxGroup; i++ {
		yes, err := w.a.confirm(ctx, "caller", title,
			"A local caller is software (e.g. SAP) that gets tokens from the local endpoint with its own id and secret.", add && i == 0)
		if err != nil {
			return err
		}
		if !yes {
			break
		}
		title = "Add another local caller?"
		id, err := w.a.ask(ctx, question{flag: "caller", title: "Caller id", help: "The OAuth2 client_id the caller sends, e.g. sap.",
			def: map[bool]string{true: "sap"}[len(list) == 0], check: setup.CheckCallerID(list)})
		if err != nil {
			return err
		}
		cl, err := w.oneCaller(c.SystemUsers, id, func(_ string, q question) (string, error) { return w.a.ask(ctx, q) })
		if err != nil {
			return err
		}
		list = append(list, cl)
	}
	c.Clients = list
	return w.makeSecrets(p)
}

// fittingCallers keeps the configured callers that still fit the system users and says which it drops.
func (w *wizard) fittingCallers(c *config.Config) []config.Client {
	keep, dropped := setup.FittingCallers(c)
	for _, cl := range c.Clients {
		if err, ok := dropped[cl.ID]; ok {
			fmt.Fprintf(w.e.stderr, "\nCaller %s no longer fits the system users (%v): it is left out; add it again below if it is still needed.\n", cl.ID, err)
		}
	}
	return keep
}

// makeSecrets keeps the secrets of callers the config file has and makes the others' (setup.KeepOrMakeSecrets).
func (w *wizard) makeSecrets(p *wizardPlan) error {
	made, err := setup.KeepOrMakeSecrets(w.base, p.cfg)
	if err != nil {
		return err
	}
	for id, s := range made {
		p.secrets[id] = s
	}
	return nil
}
