package peer

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Open opens the kernel-attested transports a configuration asks for (config unix_socket and
// named_pipe): the Unix socket at unixSocket and the named pipe namedPipe, each admitting only the
// accounts osUsers (config.Config.OSUsers). Empty names open nothing; with both empty Open returns no
// listener and no error. On an error it closes what it opened.
func Open(unixSocket, namedPipe string, osUsers []string) ([]net.Listener, error) {
	var lns []net.Listener
	if unixSocket != "" {
		ln, err := ListenUnix(unixSocket, osUsers)
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
	}
	if namedPipe != "" {
		ln, err := ListenPipe(namedPipe, osUsers)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Serve runs run (an agent.Server's Run) on every listener at once until ctx ends or one of them stops
// with an error; then the others are shut down too. It returns nil after a shutdown asked for by ctx,
// else the errors that stopped serving.
func Serve(ctx context.Context, run func(context.Context, net.Listener) error, lns ...net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(lns))
	var wg sync.WaitGroup
	for i, ln := range lns {
		wg.Go(func() {
			if errs[i] = run(ctx, ln); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
