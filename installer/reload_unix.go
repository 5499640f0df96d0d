//go:build !windows

package installer

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// ReloadRequests delivers one value per SIGHUP (systemctl reload, kill -HUP) until ctx ends.
func ReloadRequests(ctx context.Context) <-chan os.Signal {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		<-ctx.Done()
		signal.Stop(ch)
		close(ch)
	}()
	return ch
}
