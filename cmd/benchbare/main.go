// Command benchbare is the baseline of scripts/bench: a bare net/http server that answers every request
// with one constant OAuth2 token response of a given size, so the load script can compare the agent's
// cached POST /oauth2/token with the least any Go HTTP server can do on the same machine.
//
// It is a measuring tool, not part of the product: nothing imports it, and it serves a fake token
// (made of a repeated letter), never a real one. It listens on a literal loopback address only.
//
//	benchbare --listen 127.0.0.1:17071 --token-bytes 1212 --expires-in 119
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchbare:", err)
		os.Exit(1)
	}
}

// run parses args, listens and serves until ctx ends. It prints the address it listens on to out.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("benchbare", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "literal loopback address to listen on")
	size := fs.Int("token-bytes", 1200, "length of the fake access_token, to match the agent's real one")
	expiresIn := fs.Int64("expires-in", 119, "expires_in of the reply")
	scope := fs.String("scope", "altinn:demo/read", "scope of the reply")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("--listen %q must be a literal loopback address with a port, such as 127.0.0.1:17071", *listen)
	}
	if *size < 1 || *size > 1<<20 {
		return errors.New("--token-bytes must be between 1 and 1048576")
	}
	body, err := tokenBody(*size, *expiresIn, *scope)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", ap, err)
	}
	fmt.Fprintln(out, ln.Addr().String())
	srv := &http.Server{Handler: handler(body), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// tokenBody is the JSON reply with a fake token of size bytes.
func tokenBody(size int, expiresIn int64, scope string) ([]byte, error) {
	b, err := json.Marshal(map[string]any{"access_token": strings.Repeat("x", size), "token_type": "Bearer",
		"expires_in": expiresIn, "scope": scope})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// handler answers every request with body, as the agent answers a cached token: JSON, no-store.
func handler(body []byte) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", length)
		_, _ = w.Write(body)
	})
}
