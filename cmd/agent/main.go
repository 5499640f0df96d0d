// Command agent is systemuser-agent: it keeps an organisation's Maskinporten key in the OS key store,
// registers the organisation's own system in Altinn, gets a system user approved, and serves system-user
// tokens to local software over a loopback OAuth2 client_credentials endpoint.
//
// Run "agent help" for the commands. Exit codes: 0 done, 1 error, 2 usage, 3 waiting for approval.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		prog: filepath.Base(os.Args[0])})
	stop()
	os.Exit(code)
}
