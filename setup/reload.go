package setup

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// Reloadable is the running server as a reload sees it (agent.Server).
type Reloadable interface {
	ReloadWith(load func() (*config.Config, error)) error
	SetKeyExpiry(kid string, expiry time.Time)
}

// ReloadTarget is the running token service as a reload changes it.
type ReloadTarget struct {
	// ConfigPath is the configuration file the service was started with; StateDir its state directory.
	ConfigPath, StateDir string
	// KS is the service's key store, Server its HTTP server and Client its Maskinporten client.
	KS     keystore.Store
	Server Reloadable
	Client *tokens.Client
	// Current is the configuration in force; a reload stores the new one.
	Current *atomic.Pointer[config.Config]
	Log     *slog.Logger
}

// Reloads applies reload requests to the running token service, one at a time: a signal (SIGHUP), a
// reload over the Linux reload socket (the unit's ExecReload=+, "agent service reload"), or one over the
// Windows hand-over pipe. It implements keystore.Reloader; until Serve binds it to the service (the key
// may still be awaited) it refuses.
type Reloads struct {
	// Handover is the Windows hand-over pipe the service serves (reloads and, with the keyring backend,
	// keys); zero means the installed service's (HandoverPipeName, installer.ServiceAccount).
	Handover keystore.HandoverEndpoint

	mu     sync.Mutex
	target atomic.Pointer[ReloadTarget]
}

// KeyID implements keystore.Reloader: the kid signing now ("" before the service serves).
func (r *Reloads) KeyID() string {
	if t := r.target.Load(); t != nil {
		return t.Client.KeyID()
	}
	return ""
}

// Reload implements keystore.Reloader. cfg, when given, is the configuration file's content (the root
// helper read it, as the service sees only the copy systemd made at start); key, when given, is the
// decrypted credential of the configured key (systemd-creds backend). Both are checked before anything
// changes: a broken configuration or key is refused with the reason and the old ones keep serving.
func (r *Reloads) Reload(ctx context.Context, cfg, key []byte) (string, error) {
	t := r.target.Load()
	if t == nil {
		return "", fmt.Errorf("the service is still waiting for its key and serves nothing yet: %w", keystore.ErrReloadRefused)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	load := func() (*config.Config, error) { return config.Load(t.ConfigPath) }
	if cfg != nil {
		load = func() (*config.Config, error) { return config.Parse(cfg, "the configuration handed over") }
	}
	var commit func(name string) error
	if key != nil {
		switch ks := t.KS.(type) {
		case *keystore.SystemdCreds: // the decrypted credential: read it now, so a bad one changes nothing
			k, err := keystore.ParseCredential(key)
			if err != nil {
				t.Log.Error("key reload refused; nothing changed", "reason", err.Error())
				return "", fmt.Errorf("the handed-over key does not read (%w): %w", err, keystore.ErrReloadRefused)
			}
			commit = func(name string) error { return ks.Refresh(name, k) }
		case *keystore.TPM2: // the key file (sealed to this TPM): loaded and test-signed by Refresh
			data := bytes.Clone(key)
			commit = func(name string) error { return ks.Refresh(name, data) }
		default:
			return "", fmt.Errorf("a key was handed over, but the service's key store is %s: restart the service to change backends: %w", t.KS.Backend(), keystore.ErrReloadRefused)
		}
	}
	if _, err := t.apply(ctx, load, commit); err != nil {
		return "", fmt.Errorf("%w: %w", err, keystore.ErrReloadRefused)
	}
	return t.Client.KeyID(), nil
}

// apply loads the configuration with load and applies it, then switches to its key (after commit makes
// the key a reload brought the store's, when it brought one; else as the store has it). It returns the new configuration, or an error when the
// configuration was refused (nothing changed) or the key could not be switched (the configuration is
// applied, the old key keeps signing).
func (t *ReloadTarget) apply(ctx context.Context, load func() (*config.Config, error), commit func(name string) error) (*config.Config, error) {
	t.Log.Info("reload requested")
	var cfg *config.Config
	if err := t.Server.ReloadWith(func() (*config.Config, error) {
		c, err := load()
		cfg = c
		return c, err
	}); err != nil {
		return nil, err
	}
	t.Current.Store(cfg)
	if cfg.Maskinporten.GrantHeader == config.GrantHeaderX5C {
		// The grant carries the certificate chain, not a kid: switching here would drop it (tokens.SetSigner
		// takes a kid). A new enterprise certificate applies with a restart.
		if commit != nil {
			t.Log.Warn("key reload skipped: grant_header x5c; a new certificate applies with a restart", "fix", "systemctl restart "+installer.DefaultName)
		}
		return cfg, nil
	}
	var err error
	if commit != nil {
		err = commit(cfg.Maskinporten.Key.Name)
	}
	var signer crypto.Signer
	var kid string
	if err == nil {
		signer, kid, err = Signer(ctx, cfg, t.KS)
	}
	if err == nil && kid != t.Client.KeyID() {
		err = t.Client.SetSigner(signer, kid)
	}
	if err != nil {
		t.Log.Error("key reload refused; the current key keeps signing", "kid", t.Client.KeyID(), "reason", err.Error())
		return cfg, fmt.Errorf("the configuration was applied, but the key was not switched: %w", err)
	}
	t.Server.SetKeyExpiry(kid, KeyExpiry(t.StateDir, kid))
	return cfg, nil
}

// Serve binds r to the running service t and applies reload requests until ctx ends: every SIGHUP
// (installer.ReloadRequests) re-reads the configuration file and the key store, and on Linux, when
// systemd gave the service a runtime directory ($RUNTIME_DIRECTORY), the root-only reload socket there
// takes reloads that bring the configuration and key with them (ReloadService). A service whose
// configuration is a systemd credential ignores SIGHUP with a warning: it would re-read the copy made at
// start.
func (r *Reloads) Serve(ctx context.Context, t *ReloadTarget) {
	r.target.Store(t)
	credsDir := os.Getenv("CREDENTIALS_DIRECTORY")
	frozen := credsDir != "" && strings.HasPrefix(t.ConfigPath, credsDir+string(filepath.Separator))
	rt, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":")
	if rt != "" && runtime.GOOS == "linux" {
		go r.serveSocket(ctx, filepath.Join(rt, installer.ReloadSocketName), 0, t.Log)
	}
	go func() {
		for range installer.ReloadRequests(ctx) {
			if frozen {
				t.Log.Warn("reload signal ignored: this service's configuration and key are systemd credentials, copied at start",
					"fix", frozenReloadFix(rt))
				continue
			}
			r.mu.Lock()
			_, _ = t.apply(ctx, func() (*config.Config, error) { return config.Load(t.ConfigPath) }, nil)
			r.mu.Unlock()
		}
	}()
}

// frozenReloadFix is the advice for a SIGHUP to a service whose configuration is a systemd credential:
// with a runtime directory (the reload socket), systemctl reload hands the new ones over; without one the
// unit was written by an older "agent service install" (ExecReload=kill -HUP), and reinstalling it brings
// the hand-over, while a restart applies the change now.
func frozenReloadFix(runtimeDir string) string {
	if runtimeDir != "" {
		return "systemctl reload " + installer.DefaultName + " (it hands the new ones over)"
	}
	return "this unit predates reload without a restart: run `agent service install` again to update it, or " +
		"systemctl restart " + installer.DefaultName + " to apply the change now"
}

// serveSocket serves the reload socket at path for allowUID until ctx ends; a socket it cannot open is
// logged once with the reason (the service keeps serving; only reloads are lost).
func (r *Reloads) serveSocket(ctx context.Context, path string, allowUID int, log *slog.Logger) {
	ln, err := keystore.ListenReloadSocket(path, allowUID)
	if err == nil {
		err = (&keystore.HandoverServer{Reloader: r, Log: log}).Serve(ctx, ln)
	}
	if err != nil && ctx.Err() == nil {
		log.Error("the reload socket is not served: systemctl reload cannot reach this service; a restart applies changes", "err", err)
	}
}
