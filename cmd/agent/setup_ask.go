package main

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// Key sources.
const (
	keyGenerate = setup.KeyGenerate
	keyImport   = setup.KeyImport
)

// wizard is one run of `agent setup`.
type wizard struct {
	e    *env
	c    *common
	f    *setupFlags
	a    *asker
	base *config.Config // the existing config file's content (its values are the defaults), or nil
	// sandbox is what the running `agent sandbox` offers, once its URL has been checked (environment sandbox).
	sandbox *setup.SandboxCatalogue
}

// plan is what the questions decided: the new configuration and how to act on it.
type wizardPlan struct {
	cfg            *config.Config
	keySource      string // keyGenerate or keyImport
	keyFile        string
	installService bool
	// secrets are the caller secrets made in this run, by caller id; the callers step writes them.
	secrets map[string]*callersecret.Secret
}

func (w *wizard) close() {
	if w.a.in != nil {
		w.a.in.close()
	}
}

// gather asks every question (or takes the answers from flags and the config file) and returns a plan
// whose config is complete and valid. It writes nothing.
func (w *wizard) gather(ctx context.Context) (*wizardPlan, error) {
	b := w.base
	if b == nil {
		b = &config.Config{}
	}
	n := *b
	n.Path = ""
	p := &wizardPlan{cfg: &n, secrets: map[string]*callersecret.Secret{}}
	if w.a.mode == modeInteractive {
		fmt.Fprintf(w.e.stderr, "Setting up systemuser-agent (config %s). Press Enter to take the [default]; Ctrl-C stops, and nothing is written until every answer is in.\n", w.c.config)
	}
	steps := []func(context.Context, *wizardPlan) error{
		w.askOrganisation, w.askEnvironment, w.askSystem, w.askSystemUsers, w.askKey, w.askListen, w.askCallers, w.askService,
	}
	for _, step := range steps {
		if err := step(ctx, p); err != nil {
			return nil, err
		}
	}
	if err := w.a.missingError(); err != nil {
		return nil, err
	}
	if w.a.mode == modeNoTTY {
		return nil, usageError{"no terminal to ask questions on (stdin is not a terminal): nothing was done. Every answer is " +
			"in the flags or the config file, so add --non-interactive to run unattended."}
	}
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("the answers do not make a valid configuration, so nothing was written:\n%w", err)
	}
	return p, nil
}

func (w *wizard) askOrganisation(ctx context.Context, p *wizardPlan) error {
	c := p.cfg
	org, err := w.a.ask(ctx, question{flag: "org", title: "Organisation number",
		help: "The organisation's own 9-digit number (Enhetsregisteret): the system's vendor and the system user's owner.",
		def:  c.Organization, check: setup.CheckOrg})
	if err != nil {
		return err
	}
	c.Organization = org
	id, err := w.a.ask(ctx, question{flag: "client-id", title: "Maskinporten client id",
		help: "The client id of the organisation's Maskinporten client (Samarbeidsportalen). It needs the scopes " +
			"altinn:authentication/systemregister.write, systemuser.request.read and systemuser.request.write.",
		def: c.Maskinporten.ClientID, check: setup.CheckClientID})
	c.Maskinporten.ClientID = id
	return err
}

func (w *wizard) askEnvironment(ctx context.Context, p *wizardPlan) error {
	c := p.cfg
	old := c.Environment
	def := string(old)
	if def == "" {
		def = string(config.EnvTest)
	}
	if w.a.flagSet("sandbox-url") {
		def = string(config.EnvSandbox)
	}
	env, err := w.a.ask(ctx, question{flag: "environment", title: "Environment",
		help: "test (Maskinporten TEST, Altinn TT02), production, or sandbox (a local `agent sandbox` for trying things out).",
		def:  def, check: setup.CheckEnvironment})
	if err != nil {
		return err
	}
	c.Environment = config.Environment(env)
	if c.Environment != old {
		c.Endpoints = config.Endpoints{} // another environment's URLs never carry over
	}
	if c.Environment == config.EnvSandbox && !w.a.flagSet("maskinporten-issuer") && !w.a.flagSet("altinn-url") {
		u, err := w.a.ask(ctx, question{flag: "sandbox-url", title: "Sandbox URL",
			help: "The base URL `agent sandbox` printed; it must be running (start it in another terminal).",
			def:  cmp.Or(setup.SandboxBase(c.Endpoints), setup.DefaultSandboxURL), check: setup.SandboxChecker(ctx, &w.sandbox)})
		if err != nil {
			return err
		}
		if u != "" {
			c.Endpoints = setup.SandboxEndpoints(u)
		}
	} else if w.a.flagSet("sandbox-url") && c.Environment != config.EnvSandbox {
		return usageError{"--sandbox-url needs --environment sandbox"}
	}
	for _, o := range []struct {
		flag string
		dst  *string
	}{{"maskinporten-issuer", &c.Endpoints.MaskinportenIssuer}, {"maskinporten-token-url", &c.Endpoints.MaskinportenToken}, {"altinn-url", &c.Endpoints.Altinn}} {
		if !w.a.flagSet(o.flag) {
			continue
		}
		v, err := w.a.ask(ctx, question{flag: o.flag, title: o.flag, check: setup.CheckURL})
		if err != nil {
			return err
		}
		*o.dst = v
	}
	if _, err := c.ResolvedEndpoints(); err != nil && !w.a.incomplete {
		return usageError{fmt.Sprintf("the upstream URLs are incomplete: %v", err)}
	}
	return nil
}

func (w *wizard) askSystem(ctx context.Context, p *wizardPlan) error {
	c := p.cfg
	s := &c.System
	def := s.ID
	if def == "" && c.Organization != "" {
		def = c.Organization + "_systemuser-agent"
	}
	id, err := w.a.ask(ctx, question{flag: "system-id", title: "System id",
		help: "Your system's id in Altinn's System Register: \"<organisation number>_<name>\". Type just the name to get the prefix.",
		def:  def, check: setup.CheckSystemID(c.Organization)})
	if err != nil {
		return err
	}
	s.ID = id
	name := strings.TrimPrefix(id, c.Organization+"_")
	texts := []struct {
		flag, title, help string
		dst               *string
		def               string
	}{
		{"system-name", "System name (Norwegian Bokmål)", "Shown to the administrator who approves the request.", &s.Name.NB, cmp.Or(s.Name.NB, name)},
		{"system-name-nn", "System name (Nynorsk)", "Altinn shows every system in nb, nn and en.", &s.Name.NN, ""},
		{"system-name-en", "System name (English)", "Altinn shows every system in nb, nn and en.", &s.Name.EN, ""},
	}
	for i, t := range texts {
		d := t.def
		if i > 0 {
			d = cmp.Or(*t.dst, s.Name.NB)
		}
		v, err := w.a.ask(ctx, question{flag: t.flag, title: t.title, help: t.help, def: d, check: setup.CheckText})
		if err != nil {
			return err
		}
		*t.dst = v
	}
	desc, err := w.a.ask(ctx, question{flag: "system-description", title: "System description",
		help: "One sentence on what the system does, shown in Altinn (used for nb, nn and en).",
		def:  cmp.Or(s.Description.NB, "Own software of "+c.Organization+", run with systemuser-agent"), check: setup.CheckText})
	if err != nil {
		return err
	}
	s.Description = config.Texts{NB: desc, NN: cmp.Or(setup.DescriptionFor(s.Description.NN, s.Description.NB, desc), desc), EN: cmp.Or(setup.DescriptionFor(s.Description.EN, s.Description.NB, desc), desc)}
	rights, err := w.a.ask(ctx, question{flag: "rights", title: "Rights (resources)",
		help: "Resource ids from Altinn's resource registry the system may be given, comma-separated; RESOURCE:ACTION limits the action. Empty for none.",
		def:  cmp.Or(setup.FormatRights(s.Rights), w.sandbox.Rights()), optional: true, check: setup.CheckRights})
	if err != nil {
		return err
	}
	s.Rights = setup.ParseRights(rights)
	pkgs, err := w.a.ask(ctx, question{flag: "access-packages", title: "Access packages",
		help: "Access packages the system may be given, comma-separated (e.g. skattegrunnlag). Give at least one right or package.",
		def:  strings.Join(s.AccessPackages, ","), optional: len(s.Rights) > 0, check: setup.CheckPackages,
		empty: "give at least one access package here, or a right in the previous question: a system user request must ask for something"})
	if err != nil {
		return err
	}
	s.AccessPackages = setup.SplitList(pkgs)
	return nil
}

func (w *wizard) askListen(ctx context.Context, p *wizardPlan) error {
	addr, err := w.a.ask(ctx, question{flag: "listen", title: "Local endpoint address",
		help: "Where local software gets tokens: a loopback address and port (127.0.0.1:PORT). Just a port means 127.0.0.1:PORT.",
		def:  cmp.Or(p.cfg.Listen, config.DefaultListen), check: setup.CheckListen})
	p.cfg.Listen = addr
	return err
}

func (w *wizard) askService(ctx context.Context, p *wizardPlan) error {
	if v, ok := w.a.flags["no-service"]; ok {
		p.installService = v == "false"
	} else {
		yes, err := w.a.confirm(ctx, "no-service", "Install and start the OS service now?",
			"The service serves tokens on the local endpoint and starts at boot (answer no, or pass --no-service, to do it later with `agent service install`).",
			p.cfg.Environment != config.EnvSandbox || setup.KeyViaService(runtime.GOOS, p.cfg.Maskinporten.Key.Backend))
		if err != nil {
			return err
		}
		p.installService = yes
	}
	if !p.installService || w.a.incomplete || w.a.mode == modeNoTTY {
		return nil
	}
	// Paths the service cannot use fail now, before anything is written or registered.
	o, err := serviceOptions(w.c, w.f.serviceUser)
	if err == nil {
		_, err = installer.New(o, nil)
	}
	if err != nil {
		return usageError{fmt.Sprintf("the OS service cannot be installed with these settings: %v; fix them, or pass --no-service", err)}
	}
	return nil
}
