package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
	"github.com/systemuser-agent/systemuser-agent/keystore"
)

// ReloadService makes the running service of o take its configuration and key again, and returns the
// kid it signs with afterwards. On Linux it is the unit's ExecReload=+ (root, outside the sandbox): it
// reads the configuration file, decrypts the configured key's systemd credential when the key is one
// (the service user cannot, and systemd gave the service only the copies it made at start), and hands
// both to the service's main process (mainPID; 0 asks systemd) over the root-only reload socket; the
// key travels on that socket only. On Windows it sends a reload over the key hand-over pipe, and the
// service re-reads its configuration and its vault. A configuration that does not load is refused here,
// before anything is sent; the service refuses what it cannot apply; either way the old configuration
// and key keep serving and the error says why.
func ReloadService(ctx context.Context, o installer.Options, mainPID int) (string, error) {
	if runtime.GOOS == "windows" {
		return keystore.NewRemote("", keystore.HandoverDialer(handoverEndpoint())).Reload(ctx, nil, nil)
	}
	data, cfg, err := readConfig(o.ConfigPath)
	if err != nil {
		return "", fmt.Errorf("not reloaded: %w; the service keeps serving with its current configuration", err)
	}
	key, err := serviceKeyFile(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("not reloaded: %w; the service keeps signing with its current key", err)
	}
	defer keystore.Wipe(key)
	dial, err := reloadDialer(o, mainPID)
	if err != nil {
		return "", err
	}
	return keystore.NewRemote("", dial).Reload(ctx, data, key)
}

// ServiceKeyID asks the running service of o which kid it signs with now (Linux: as root, over the
// reload socket; Windows: over the hand-over pipe).
func ServiceKeyID(ctx context.Context, o installer.Options, mainPID int) (string, error) {
	if runtime.GOOS == "windows" {
		return keystore.NewRemote("", keystore.HandoverDialer(handoverEndpoint())).KeyID(ctx)
	}
	dial, err := reloadDialer(o, mainPID)
	if err != nil {
		return "", err
	}
	return keystore.NewRemote("", dial).KeyID(ctx)
}

// reloadDialer dials the reload socket of o's service, checking that its main process serves it.
func reloadDialer(o installer.Options, mainPID int) (func(context.Context) (net.Conn, error), error) {
	if mainPID <= 0 {
		inst, err := installer.New(o, nil)
		if err != nil {
			return nil, err
		}
		st, err := inst.Status()
		if err != nil {
			return nil, fmt.Errorf("not reloaded: ask systemd for the service's main process: %w", err)
		}
		if st.State != installer.StateRunning || st.PID <= 0 {
			return nil, fmt.Errorf("not reloaded: %s is not running (%s): %w", o.Name, st.State, keystore.ErrUnavailable)
		}
		mainPID = st.PID
	}
	path := installer.ReloadSocketPath(o.Name)
	return func(ctx context.Context) (net.Conn, error) { return keystore.DialReloadSocket(ctx, path, mainPID) }, nil
}

// readConfig reads and checks the configuration file at path: its bytes (what a reload hands over) and
// the parsed configuration.
func readConfig(path string) ([]byte, *config.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read the configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read the configuration: %w", err)
	}
	cfg, err := config.Parse(data, path)
	if err != nil {
		return nil, nil, fmt.Errorf("the configuration does not load: %w", err)
	}
	return data, cfg, nil
}

// ReloadOutcome is what SignalReload did.
type ReloadOutcome struct {
	// Sent says whether a reload reached a running service; KID is the kid it signs with afterwards.
	Sent bool   `json:"sent"`
	KID  string `json:"kid,omitempty"`
	// Command is what to run by hand when nothing was sent, Reason why.
	Command string `json:"command,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// SignalReload reloads the installed, running service of o (after "agent keys activate"): on Linux
// "systemctl reload" (the unit's ExecReload hands the key and configuration over), on Windows the
// hand-over pipe. It then asks the service which kid it signs with. When no service is installed and
// running, or it cannot be reached, Sent is false and Command says what to run; an error means the
// service refused (the reason is in it).
func SignalReload(ctx context.Context, o installer.Options) (ReloadOutcome, error) {
	out := ReloadOutcome{Command: "systemctl reload " + o.Name}
	if runtime.GOOS == "windows" { // the pipe is there exactly while the service runs
		out.Command = "agent service reload"
		kid, err := ReloadService(ctx, o, 0)
		if errors.Is(err, keystore.ErrUnavailable) {
			out.Reason = err.Error()
			return out, nil
		}
		out.Sent, out.KID = err == nil, kid
		return out, err
	}
	inst, err := installer.New(o, nil)
	if err != nil {
		out.Reason = err.Error()
		return out, nil
	}
	st, err := inst.Status()
	if err != nil || st.State != installer.StateRunning {
		out.Reason = fmt.Sprintf("the service is %s", st.State)
		if err != nil {
			out.Reason = err.Error()
		}
		return out, nil
	}
	if err := inst.Reload(); err != nil {
		return out, err
	}
	out.Sent = true
	out.KID, err = ServiceKeyID(ctx, o, st.PID)
	if err != nil {
		out.Reason = "the service was reloaded, but does not say which key it signs with: " + err.Error()
	}
	return out, nil
}

// serviceKeyFile is what the unit gives the service for its key as a credential, read as root: the
// decrypted systemd-creds credential, or the tpm2 key file (sealed to the TPM, no secret); nil for
// backends the service reads itself.
func serviceKeyFile(ctx context.Context, cfg *config.Config) ([]byte, error) {
	k := cfg.Maskinporten.Key
	switch k.Backend {
	case keystore.BackendTPM2:
		return os.ReadFile(keystore.TPM2KeyPath(k.Path, k.Name))
	case keystore.BackendSystemdCreds:
		ks, err := OpenKeyStore(k, false, "")
		if err != nil {
			return nil, err
		}
		if s, ok := ks.(*keystore.SystemdCreds); ok {
			return s.Credential(ctx, k.Name)
		}
		return nil, fmt.Errorf("the systemd-creds key store opened as %T", ks)
	}
	return nil, nil
}
