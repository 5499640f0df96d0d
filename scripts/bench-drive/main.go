// Command bench-drive is the measuring half of scripts/bench: it drives a running agent and sandbox
// over loopback and prints what it saw, with PASS or MISS against the targets of issue 9. The script
// starts and stops the processes; this program only talks HTTP to 127.0.0.1 (and, for start-up, execs
// the agent binary it is given).
//
//	bench-drive freeport                         a free loopback port
//	bench-drive jwk < generated.json             the "jwk" member of "agent keys generate --json"
//	bench-drive field NAME < sandbox.json        one string member of "agent sandbox --json"
//	bench-drive wait URL                         poll URL until it answers 200 (bounded)
//	bench-drive token ...                        fetch one token; print its size and expires_in
//	bench-drive stampede ...                     N concurrent cold callers; grants per key at the sandbox
//	bench-drive soak ...                         steady load through token refreshes
//	bench-drive outage ...                       the fault drill: 503, 429, hang, reset
//	bench-drive startup ...                      exec to /readyz 200, several runs
//
// Caller secrets come from a file (--secret-file), never from the command line. It is a tool, not part
// of the product: nothing imports it.
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
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-drive:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand.
func run(ctx context.Context, args []string, stdin io.Reader, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing subcommand: freeport, jwk, field, wait, token, stampede, soak, outage, startup")
	}
	rest := args[1:]
	switch args[0] {
	case "freeport":
		return freePort(out)
	case "jwk":
		return jsonMember(stdin, out, "jwk", true)
	case "field":
		if len(rest) != 1 {
			return errors.New("usage: field NAME < file.json")
		}
		return jsonMember(stdin, out, rest[0], false)
	case "wait":
		if len(rest) != 1 {
			return errors.New("usage: wait URL")
		}
		return waitOK(ctx, rest[0], 20*time.Second)
	case "token":
		return cmdToken(ctx, rest, out)
	case "stampede":
		return cmdStampede(ctx, rest, out)
	case "soak":
		return cmdSoak(ctx, rest, out)
	case "outage":
		return cmdOutage(ctx, rest, out)
	case "startup":
		return cmdStartup(ctx, rest, out)
	}
	return fmt.Errorf("unknown subcommand %q", args[0])
}

// freePort prints a port that was free on 127.0.0.1 a moment ago.
func freePort(out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	_, err = fmt.Fprintln(out, ln.Addr().(*net.TCPAddr).Port)
	return err
}

// jsonMember prints one member of the JSON object on r: raw JSON when raw, else a string's value.
func jsonMember(r io.Reader, out io.Writer, name string, raw bool) error {
	var obj map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&obj); err != nil {
		return fmt.Errorf("read a JSON object: %w", err)
	}
	v, ok := obj[name]
	if !ok {
		return fmt.Errorf("no member %q", name)
	}
	if raw {
		_, err := fmt.Fprintln(out, string(v))
		return err
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return fmt.Errorf("member %q is not a string", name)
	}
	_, err := fmt.Fprintln(out, s)
	return err
}

// loopbackURL refuses anything but http://127.0.0.1:port: the drive never sends elsewhere.
func loopbackURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		return "", fmt.Errorf("%q is not an http://127.0.0.1:PORT URL; this tool talks to loopback only", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// waitOK polls u every 2 ms until it answers 200 or limit passes.
func waitOK(ctx context.Context, u string, limit time.Duration) error {
	u, err := loopbackURL(u)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := hc.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer 200 within %s", u, limit)
}

// common are the flags every load subcommand takes.
type common struct {
	agent, admin, secretFile, clients string
	secret                            string
	ids                               []string
}

func (c *common) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.agent, "agent", "", "agent base URL, http://127.0.0.1:PORT")
	fs.StringVar(&c.admin, "admin", "", "sandbox drill API base URL (…/sandbox/)")
	fs.StringVar(&c.secretFile, "secret-file", "", "file holding the callers' secret")
	fs.StringVar(&c.clients, "clients", "bench", "comma-separated caller ids (one cache key each)")
}

// load checks the flags and reads the secret.
func (c *common) load() error {
	var err error
	if c.agent, err = loopbackURL(c.agent); err != nil {
		return fmt.Errorf("--agent: %w", err)
	}
	if c.admin != "" {
		if c.admin, err = loopbackURL(c.admin); err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
	}
	b, err := os.ReadFile(c.secretFile)
	if err != nil {
		return fmt.Errorf("--secret-file: %w", err)
	}
	c.secret = strings.TrimSpace(string(b))
	c.ids = strings.Split(c.clients, ",")
	return nil
}

// cmdToken fetches one token and prints the sizes the bare handler must match.
func cmdToken(ctx context.Context, args []string, out io.Writer) error {
	var c common
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	c.bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.load(); err != nil {
		return err
	}
	cl := newCallerClient(c.agent, c.secret, 4)
	r := cl.token(ctx, c.ids[0])
	if err := r.valid(time.Now()); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "token_bytes=%d expires_in=%d scope=%s\n", len(r.token), r.expiresIn, r.scope)
	return err
}
