package setup

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/installer"
)

// StartChecks runs before `agent run` serves (security.md D19; issue 15 #3, #8). It refuses a config
// file, or a state directory, that an account other than this one and root (SYSTEM, Administrators)
// could change, saying why and how to fix it: whoever can change the config decides who gets the
// organisation's tokens. It then removes the temporary files a killed config or state write left
// behind (only that exact name pattern, only regular files older than 30 s, never through a symlink),
// logging each one.
func StartChecks(configPath, stateDir string, now time.Time, log *slog.Logger) error {
	if err := installer.CheckWritable(configPath); err != nil {
		return fmt.Errorf("refusing to start: the config %s could be changed by another account, who would "+
			"decide which programs get the organisation's tokens: %w", configPath, err)
	}
	if stateDir != "" {
		if err := installer.CheckWritable(stateDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("refusing to start: the state directory %s could be changed by another "+
				"account: %w", stateDir, err)
		}
	}
	removed, err := config.RemoveStaleTemps(configPath, now)
	if stateDir != "" {
		more, err2 := config.RemoveStaleStateTemps(stateDir, now)
		removed, err = append(removed, more...), errors.Join(err, err2)
	}
	for _, p := range removed {
		log.Info("removed a temporary file left by an interrupted write", "path", p)
	}
	if err != nil {
		log.Warn("could not remove a temporary file left by an interrupted write", "err", err)
	}
	return nil
}
