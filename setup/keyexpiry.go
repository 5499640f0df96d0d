package setup

import (
	"context"
	"log/slog"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// KeyExpiry is the recorded expiry of key kid (state file), zero when none is recorded or the state
// cannot be read (the service then just does not warn ahead).
func KeyExpiry(stateDir, kid string) time.Time {
	st, err := config.LoadState(stateDir)
	if err != nil {
		return time.Time{}
	}
	return st.Keys[kid].Expires
}

// RecordKeyExpiry saves when key kid was uploaded and when it expires, and where that came from
// ("confirmed": a person uploaded it, expiry = upload + one year; "self-service": read back from the API).
func RecordKeyExpiry(stateDir, kid string, uploaded, expires time.Time, source string) error {
	st, err := config.LoadState(stateDir)
	if err != nil {
		return err
	}
	if st.Keys == nil {
		st.Keys = map[string]config.KeyState{}
	}
	st.Keys[kid] = config.KeyState{Uploaded: uploaded.UTC(), Expires: expires.UTC(), Source: source}
	return config.SaveState(stateDir, st)
}

// Reloadable is the running server as a reload sees it (agent.Server).
type Reloadable interface {
	ReloadWith(load func() (*config.Config, error)) error
	SetKeyExpiry(kid string, expiry time.Time)
}

// Reload applies a reload request (SIGHUP) to the running service: the config file at configPath
// (callers, scopes, system users, log level; a broken one is refused and logged by srv, the old one keeps
// serving), then the key: after `agent keys activate` the key under the configured name has a new kid,
// and client switches to it at once, with its recorded expiry. It returns the new configuration, or nil
// when the reload was refused.
func Reload(ctx context.Context, configPath, stateDir string, ks keystore.Store, srv Reloadable, client *tokens.Client, log *slog.Logger) *config.Config {
	log.Info("reload requested")
	var cfg *config.Config
	if err := srv.ReloadWith(func() (*config.Config, error) {
		c, err := config.Load(configPath)
		cfg = c
		return c, err
	}); err != nil {
		return nil
	}
	signer, kid, err := Signer(ctx, cfg, ks)
	if err == nil && kid != client.KeyID() {
		err = client.SetSigner(signer, kid)
	}
	if err != nil {
		log.Error("key reload refused; the current key keeps signing", "kid", client.KeyID(), "reason", err.Error())
		return cfg
	}
	srv.SetKeyExpiry(kid, KeyExpiry(stateDir, kid))
	return cfg
}
