package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// view is the part of the configuration a reload may change: the organisation's system users and the
// local callers with their allowlists. It is immutable once built; Reload swaps the whole view, so a
// request sees one view from authentication to answer.
type view struct {
	org         string
	systemID    string
	callers     *callerTable
	systemUsers map[string]config.SystemUser
	cfg         *config.Config
}

// buildView checks cfg with config's own checks of what the endpoint serves from (organization, listen,
// system users, callers: config.CheckServing) and builds a view from the checked values.
func buildView(cfg *config.Config) (*view, error) {
	if err := cfg.CheckServing(); err != nil {
		return nil, fmt.Errorf("agent: config: %w", err)
	}
	sus := make(map[string]config.SystemUser, len(cfg.SystemUsers))
	for _, su := range cfg.SystemUsers {
		sus[su.Name] = su
	}
	callers := buildCallers(cfg.Clients, sus)
	v := &view{org: cfg.Organization, systemID: cfg.System.ID, callers: callers, systemUsers: sus, cfg: cfg}
	for _, c := range callers.list {
		c.view = v
	}
	return v, nil
}

// view is the configuration in force.
func (s *Server) view() *view { return s.cur.Load() }

// Reload applies a new configuration to the running server without a restart: callers, their secrets
// and allowlists, system users and their scopes, and the log level (when Options.LogLevel is set). It is
// atomic: every request sees either the old or the new configuration, whole. A configuration it cannot
// apply (invalid, or changing what needs a restart: listen, organization, environment, endpoints,
// maskinporten.client_id and .key, tokens, log.format) is refused with the reason, logged, and the old one keeps serving. Tokens already cached
// stay cached: the token cache is keyed by scope and system user, not by caller. A new maskinporten.kid
// is the signing key's business: the caller re-reads the key and calls tokens.Client.SetSigner.
func (s *Server) Reload(cfg *config.Config) error {
	err := s.reload(cfg)
	if err != nil {
		s.log.Error("configuration reload refused; the old configuration keeps serving", "reason", err.Error())
		return err
	}
	return nil
}

// ReloadWith loads a configuration with load (e.g. config.Load of the file) and applies it with
// Reload; a load error (a broken file) is refused and logged the same way.
func (s *Server) ReloadWith(load func() (*config.Config, error)) error {
	cfg, err := load()
	if err != nil {
		err = fmt.Errorf("agent: the new configuration does not load: %w", err)
		s.log.Error("configuration reload refused; the old configuration keeps serving", "reason", err.Error())
		return err
	}
	return s.Reload(cfg)
}

func (s *Server) reload(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("agent: reload without a configuration (a bug in the caller)")
	}
	old := s.view()
	if fields := restartFields(old.cfg, cfg); len(fields) > 0 {
		return fmt.Errorf("agent: the new configuration changes %s, which a reload cannot apply: restart the "+
			"service to apply it (or undo the change)", strings.Join(fields, ", "))
	}
	var level slog.Level
	if cfg.Log.Level != "" {
		if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
			return fmt.Errorf("agent: config field log.level %q: use debug, info, warn or error", cfg.Log.Level)
		}
	}
	v, err := buildView(cfg)
	if err != nil {
		return err
	}
	s.cur.Store(v)
	if s.logLevel != nil && cfg.Log.Level != "" {
		s.logLevel.Set(level)
	}
	s.log.Info("configuration reloaded", "callers", len(v.callers.list), "system_users", len(v.systemUsers),
		"log_level", cfg.Log.Level)
	return nil
}

// restartFields names the configuration fields that differ between a and b and need a restart.
func restartFields(a, b *config.Config) []string {
	if a == nil {
		return nil
	}
	var out []string
	check := func(name string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			out = append(out, name)
		}
	}
	check("listen", a.Listen, b.Listen)
	check("organization", a.Organization, b.Organization)
	check("environment", a.Environment, b.Environment)
	check("endpoints", a.Endpoints, b.Endpoints)
	check("maskinporten.client_id", a.Maskinporten.ClientID, b.Maskinporten.ClientID)
	check("maskinporten.key", a.Maskinporten.Key, b.Maskinporten.Key)
	check("tokens", a.Tokens, b.Tokens)
	check("log.format", a.Log.Format, b.Log.Format)
	// The socket and the pipe are opened at start with an access list of the os_user accounts (the
	// socket folder's ACL, the pipe's DACL): a reload cannot reopen them or let a new account in.
	check("unix_socket", a.UnixSocket, b.UnixSocket)
	check("named_pipe", a.NamedPipe, b.NamedPipe)
	if a.UnixSocket != "" || a.NamedPipe != "" {
		check("the os_user accounts of clients (the unix_socket/named_pipe access list)", osUsers(a), osUsers(b))
	}
	return out
}

// osUsers lists the distinct os_user accounts of c's callers, sorted.
func osUsers(c *config.Config) []string {
	var out []string
	for _, cl := range c.Clients {
		if cl.OSUser != "" {
			out = append(out, cl.OSUser)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
