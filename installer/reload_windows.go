package installer

import (
	"context"
	"os"
)

// ReloadRequests on Windows never delivers: Windows has no SIGHUP, and a reload reaches the service as a
// "reload" message on the key hand-over pipe instead ("agent service reload", "agent keys activate";
// setup.Reloads, keystore.HandoverServer), which answers with the kid or the reason for a refusal, and
// which only SYSTEM, elevated administrators and the service account may open.
func ReloadRequests(ctx context.Context) <-chan os.Signal {
	ch := make(chan os.Signal)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}
