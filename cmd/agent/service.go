package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// cmdService is "agent service install|uninstall|start|stop|restart|status|reload".
func cmdService(ctx context.Context, e *env, args []string) error {
	verb, rest, err := subcommand(args, "install", "uninstall", "start", "stop", "restart", "status", "reload")
	if err != nil {
		return err
	}
	var c common
	fs := newFlags(e, "service "+verb, &c)
	var user string
	if verb == "install" {
		fs.StringVar(&user, "user", "", "account the service runs as (default: a systemd DynamicUser on Linux, the virtual account NT SERVICE\\systemuser-agent on Windows)")
	}
	if err := parse(fs, rest, false); err != nil {
		return err
	}
	o, err := serviceOptions(&c, user)
	if err != nil {
		return err
	}
	switch verb {
	case "install":
		return serviceInstall(e, &c, o)
	case "uninstall":
		return serviceUninstall(e, &c, o)
	case "status":
		return serviceStatus(e, &c, o)
	case "reload": // the unit's ExecReload=+ (systemd passes $MAINPID), or by hand
		pid := 0
		if e.getenv != nil {
			pid, _ = strconv.Atoi(e.getenv("MAINPID"))
		}
		kid, err := setup.ReloadService(ctx, o, pid)
		if err != nil || c.json {
			return cmp.Or(err, printJSON(e.stdout, map[string]any{"action": verb, "ok": true, "kid": kid}))
		}
		fmt.Fprintf(e.stdout, "%s: reloaded; it signs with kid %s.\n", o.Name, kid)
		return nil
	}
	inst, err := installer.New(o, nil)
	if err != nil {
		return err
	}
	op := map[string]func() error{"start": inst.Start, "stop": inst.Stop, "restart": inst.Restart}[verb]
	if err := op(); err != nil {
		return err
	}
	if c.json {
		return printJSON(e.stdout, map[string]any{"action": verb, "ok": true})
	}
	fmt.Fprintf(e.stdout, "%s: %s done.\n", o.Name, verb)
	return nil
}

// serviceOptions are the installer options from the flags (setup.ServiceOptions).
func serviceOptions(c *common, user string) (installer.Options, error) {
	return setup.ServiceOptions(c.config, c.stateDir, user)
}

// serviceInstall checks permissions first, then the config, then defines and enables the service.
func serviceInstall(e *env, c *common, o installer.Options) error {
	inst, err := installer.New(o, nil)
	if err != nil {
		return err
	}
	if err := inst.Preflight(); err != nil {
		return fmt.Errorf("not installing: %w", err)
	}
	if err := setup.CheckInstallable(o); err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return fmt.Errorf("not installing: the config %s does not load (fix it first; agent doctor helps): %w", o.ConfigPath, err)
	}
	if inst, err = setup.ServiceFor(o, cfg); err != nil {
		return fmt.Errorf("not installing: %w", err)
	}
	if err := inst.Install(); err != nil {
		return err
	}
	st, _ := inst.Status()
	notStarted := inst.ManagerRunning()
	if c.json {
		out := map[string]any{"action": "install", "installed": true, "definition": st.Definition, "account": installer.Account(inst.Options())}
		if notStarted != nil {
			out["note"] = notStarted.Error()
		}
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stdout, "Installed %s (%s), enabled at boot, running as %s.\n", inst.Options().Name, st.Definition, installer.Account(inst.Options()))
	if notStarted != nil {
		fmt.Fprintf(e.stdout, "Not started: %v\n", notStarted)
		return nil
	}
	fmt.Fprintln(e.stdout, "Start it with: agent service start")
	return nil
}

// serviceUninstall removes the service definition and says what it left in place.
func serviceUninstall(e *env, c *common, o installer.Options) error {
	inst, err := installer.New(o, nil)
	if err != nil {
		return err
	}
	if err := inst.Uninstall(); err != nil {
		return err
	}
	key := "the key, in the key store your config names"
	if cfg, err := loadConfig(c); err == nil {
		key = setup.KeptKey(cfg.Maskinporten.Key)
	}
	kept := map[string]string{"config": o.ConfigPath, "state_dir": inst.Options().StateDir, "key": key}
	if c.json {
		return printJSON(e.stdout, map[string]any{"action": "uninstall", "removed": true, "kept": kept})
	}
	fmt.Fprintf(e.stdout, "Removed the %s service. Left in place: config %s, state %s, and %s.\n", o.Name, kept["config"], kept["state_dir"], key)
	fmt.Fprintln(e.stdout, "Delete them yourself if you no longer need them (agent keys delete removes the key).")
	return nil
}

// serviceStatus prints what is known, and returns the error when the service manager cannot be asked.
func serviceStatus(e *env, c *common, o installer.Options) error {
	inst, err := installer.New(o, nil)
	if err != nil {
		return err
	}
	st, err := inst.Status()
	if c.json {
		out := struct {
			installer.Status
			Error string `json:"error,omitempty"`
		}{Status: st}
		if err != nil {
			out.Error = err.Error()
		}
		if perr := printJSON(e.stdout, out); perr != nil {
			return perr
		}
		return err
	}
	fmt.Fprint(e.stdout, st.Describe(o.Name))
	return err
}

// runAsService runs serve the way the process was started: under the service manager (systemd, the
// Windows SCM, launchd) through installer.RunService, which cancels serve's context when the manager
// says stop and returns serve's error so a failure exits non-zero and the manager restarts the service;
// from a terminal, it calls serve(ctx) directly. The lead's "agent run" calls it. e is for the caller's
// symmetry with other commands; errors are returned, never printed here (run prints them once).
func runAsService(ctx context.Context, e *env, configPath string, serve func(ctx context.Context) error) error {
	if installer.Interactive() {
		return serve(ctx)
	}
	return installer.RunService(ctx, installer.Options{ConfigPath: configPath}, serve)
}
