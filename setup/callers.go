package setup

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/systemuser-agent/systemuser-agent/callersecret"
	"github.com/systemuser-agent/systemuser-agent/config"
)

// AddCaller gives cl a new secret, writes its secret file (none when cl.SecretFile is ""), adds cl to
// cfg and saves cfg at path (`agent clients add`). When the save fails the file is removed again.
func AddCaller(path string, cfg *config.Config, cl config.Client) (*callersecret.Secret, error) {
	s, err := callersecret.New()
	if err != nil {
		return nil, err
	}
	cl.SecretSHA256 = s.Digest()
	if cl.SecretFile != "" {
		if err := callersecret.Write(cl.SecretFile, cl.OSUser, s, false); err != nil {
			return nil, err
		}
	}
	cfg.Clients = append(cfg.Clients, cl)
	if err := config.Save(path, cfg); err != nil {
		if cl.SecretFile != "" {
			_, _ = callersecret.Remove(cl.SecretFile)
		}
		return nil, fmt.Errorf("caller %s not added (its secret file was removed again): %w", cl.ID, err)
	}
	return s, nil
}

// RotateCaller gives caller id a new secret (`agent clients rotate`). The new file is staged beside the
// old one and renamed over it only once the config at path is saved, so a failed save keeps the old
// secret working. It returns the caller as saved.
func RotateCaller(path string, cfg *config.Config, id string) (config.Client, *callersecret.Secret, error) {
	i := slices.IndexFunc(cfg.Clients, func(cl config.Client) bool { return cl.ID == id })
	if i < 0 {
		return config.Client{}, nil, fmt.Errorf("no caller %q in %s; `agent clients list` shows them", id, path)
	}
	cl := &cfg.Clients[i]
	s, err := callersecret.New()
	if err != nil {
		return config.Client{}, nil, err
	}
	cl.SecretSHA256 = s.Digest()
	var staged *callersecret.Staged
	if cl.SecretFile != "" {
		if staged, err = callersecret.Stage(cl.SecretFile, cl.OSUser, s); err != nil {
			return config.Client{}, nil, err
		}
	}
	if err := config.Save(path, cfg); err != nil {
		if staged != nil {
			staged.Discard()
		}
		return config.Client{}, nil, fmt.Errorf("caller %s keeps its old secret: %w", id, err)
	}
	if staged != nil {
		if err := staged.Commit(); err != nil {
			return config.Client{}, nil, fmt.Errorf("the config has caller %s's new secret, but its file could not be replaced (the new secret is in %s; move it to %s): %w", id, staged.Path(), cl.SecretFile, err)
		}
	}
	return *cl, s, nil
}

// RemoveCaller removes caller id from the config at path and deletes its secret file (`agent clients
// remove`). It returns the file it deleted, if any.
func RemoveCaller(path string, cfg *config.Config, id string) (string, error) {
	i := slices.IndexFunc(cfg.Clients, func(cl config.Client) bool { return cl.ID == id })
	if i < 0 {
		return "", fmt.Errorf("no caller %q in %s; `agent clients list` shows them", id, path)
	}
	cl := cfg.Clients[i]
	cfg.Clients = slices.Delete(cfg.Clients, i, i+1)
	if err := config.Save(path, cfg); err != nil {
		return "", err
	}
	if cl.SecretFile == "" {
		return "", nil
	}
	removed, err := callersecret.Remove(cl.SecretFile)
	if err != nil {
		return "", fmt.Errorf("caller %s removed from the config, but its secret file %s was not deleted: %w; delete it yourself", id, cl.SecretFile, err)
	}
	if removed {
		return cl.SecretFile, nil
	}
	return "", nil
}

// KeepOrMakeSecrets keeps the digest of every caller of cfg that base (the config file's old content, or
// nil) already has with the same secret file (its file stays), and makes a new secret for every other
// caller, setting its digest. It returns the new secrets by caller id; Actions.Callers writes them.
func KeepOrMakeSecrets(base, cfg *config.Config) (map[string]*callersecret.Secret, error) {
	made := map[string]*callersecret.Secret{}
	for i := range cfg.Clients {
		cl := &cfg.Clients[i]
		if base != nil {
			if old, ok := base.Client(cl.ID); ok && old.SecretSHA256 != "" && samePath(old.SecretFile, cl.SecretFile) {
				cl.SecretSHA256 = old.SecretSHA256
				continue
			}
		}
		s, err := callersecret.New()
		if err != nil {
			return nil, err
		}
		made[cl.ID] = s
		cl.SecretSHA256 = s.Digest()
	}
	return made, nil
}

func samePath(a, b string) bool {
	return a == "" && b == "" || filepath.Clean(a) == filepath.Clean(b)
}

// FittingCallers splits the callers of cfg into those whose system users and scopes cfg's (new) system
// users still have, and the others with the reason, so a changed set of system users cannot end the
// wizard with an invalid config.
func FittingCallers(cfg *config.Config) (keep []config.Client, dropped map[string]error) {
	dropped = map[string]error{}
	for _, cl := range cfg.Clients {
		_, err := CheckCallerSystemUsers(cfg.SystemUsers)(strings.Join(cl.SystemUsers, ","))
		if err == nil {
			_, err = CheckCallerScopes(ScopesOf(cfg.SystemUsers, cl.SystemUsers))(strings.Join(cl.Scopes, ","))
		}
		if err != nil {
			dropped[cl.ID] = err
			continue
		}
		keep = append(keep, cl)
	}
	return keep, dropped
}

// CallerView is a caller as `agent clients list` shows it: never its secret or digest.
type CallerView struct {
	ID          string   `json:"id"`
	OSUser      string   `json:"os_user,omitempty"`
	SystemUsers []string `json:"system_users"`
	Scopes      []string `json:"scopes"`
	TokenKind   string   `json:"token_kind"`
	SecretFile  string   `json:"secret_file,omitempty"`
	FileStatus  string   `json:"secret_file_status"`
}

// CallerViews are cfg's callers as `agent clients list` shows them (an empty list, never nil).
func CallerViews(cfg *config.Config) []CallerView {
	views := []CallerView{}
	for _, cl := range cfg.Clients {
		views = append(views, CallerView{ID: cl.ID, OSUser: cl.OSUser, SystemUsers: cl.SystemUsers, Scopes: cl.Scopes,
			TokenKind: cl.TokenKind, SecretFile: cl.SecretFile, FileStatus: CallerFileStatus(cl)})
	}
	return views
}

// CallerFileStatus says whether caller cl's secret file matches its digest, as `agent clients list`
// shows it: ok, none, unreadable, does not match, or missing (with what to run).
func CallerFileStatus(cl config.Client) string {
	ok, err := callersecret.Matches(cl.SecretFile, cl.SecretSHA256)
	_, statErr := os.Stat(cl.SecretFile)
	switch {
	case cl.SecretSHA256 == "" && cl.OSUser != "":
		return "no secret (its OS account over unix_socket or named_pipe)"
	case cl.SecretFile == "":
		return "none (printed once)"
	case err != nil:
		return "unreadable here"
	case ok:
		return "ok"
	case statErr == nil:
		return "does not match (run agent clients rotate " + cl.ID + ")"
	}
	return "missing (run agent clients rotate " + cl.ID + ")"
}

// CallerAnswers are the answers of `agent clients add` for one caller; empty ones take their defaults.
type CallerAnswers struct {
	OSUser, SystemUsers, Scopes, Kind string
	// SecretFile is where the secret goes (default callersecret.DefaultPath beside the config), "-" for
	// no file.
	SecretFile string
}

// NewCaller checks the answers for a new caller id of the config at configPath and returns it (without
// its secret): system users default to the first configured, scopes to all of theirs, the kind to
// maskinporten. The error names the flag whose answer is wrong.
func NewCaller(configPath string, cfg *config.Config, id string, a CallerAnswers) (config.Client, error) {
	cl := config.Client{ID: id, OSUser: a.OSUser}
	var err error
	check := func(flagName, v, def string, fn func(string) (string, error)) string {
		if err != nil {
			return ""
		}
		answer := strings.TrimSpace(cmp.Or(v, def))
		out, cerr := fn(answer)
		if answer == "" {
			cerr = errors.New("an answer is needed")
		}
		if cerr != nil {
			err = fmt.Errorf("--%s %q: %w", flagName, v, cerr)
		}
		return out
	}
	if a.OSUser != "" {
		check("os-user", a.OSUser, "", CheckOSUser)
	}
	def := ""
	if len(cfg.SystemUsers) > 0 {
		def = cfg.SystemUsers[0].Name
	}
	cl.SystemUsers = SplitList(check("system-users", a.SystemUsers, def, CheckCallerSystemUsers(cfg.SystemUsers)))
	allowed := ScopesOf(cfg.SystemUsers, cl.SystemUsers)
	cl.Scopes = SplitList(check("scopes", a.Scopes, strings.Join(allowed, ","), CheckCallerScopes(allowed)))
	cl.TokenKind = check("kind", a.Kind, config.TokenKindMaskinporten, CheckTokenKind)
	if a.SecretFile != "-" {
		cl.SecretFile = check("secret-file", a.SecretFile, callersecret.DefaultPath(configPath, id), CheckAbsPath)
	}
	return cl, err
}
