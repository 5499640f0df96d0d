package installer

import (
	"context"
	"os"
)

// ReloadRequests on Windows: not wired yet (a service control or a hand-over pipe message would carry
// it); the channel never delivers, so a change needs a service restart there.
func ReloadRequests(ctx context.Context) <-chan os.Signal {
	ch := make(chan os.Signal)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}
