package config

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// Limits of the kernel-attested transports' names.
const (
	// maxSocketPath is what fits in sockaddr_un.sun_path (108 bytes with the terminating NUL).
	maxSocketPath = 107
	// maxPipeName is the Windows limit of a pipe name, \\.\pipe\ included.
	maxPipeName = 256
	// pipePrefix starts every local named pipe's name.
	pipePrefix = `\\.\pipe\`
)

// OSUsers lists the distinct clients[].os_user values in config order: the accounts the Unix socket or
// the named pipe admits.
func (c *Config) OSUsers() []string {
	var users []string
	seen := map[string]bool{}
	for _, cl := range c.Clients {
		if cl.OSUser != "" && !seen[cl.OSUser] {
			seen[cl.OSUser] = true
			users = append(users, cl.OSUser)
		}
	}
	return users
}

// checkTransports checks unix_socket and named_pipe (security.md D10) for goos: each only on its own
// OS, a well-formed name, at least one os_user to admit; and that a caller without a secret has a
// transport it can use.
func (c *Config) checkTransports(p *problems, goos string) {
	if s := c.UnixSocket; s != "" {
		if msg := socketProblem(s, goos); msg != "" {
			p.add("unix_socket", "%s", msg)
		}
	}
	if s := c.NamedPipe; s != "" {
		if msg := pipeProblem(s, goos); msg != "" {
			p.add("named_pipe", "%s", msg)
		}
	}
	attested := goos == "linux" && c.UnixSocket != "" || goos == "windows" && c.NamedPipe != ""
	users := c.OSUsers()
	switch {
	case c.UnixSocket != "" && len(users) == 0:
		p.add("unix_socket", "is set, but no client has os_user, so no account could use it; give the callers that run on this machine their account (clients[].os_user), or leave unix_socket empty")
	case c.NamedPipe != "" && len(users) == 0:
		p.add("named_pipe", "is set, but no client has os_user, so no account could use it; give the callers that run on this machine their account (clients[].os_user), or leave named_pipe empty")
	}
	if attested {
		return
	}
	field := "unix_socket"
	if goos == "windows" {
		field = "named_pipe"
	}
	for i, cl := range c.Clients {
		if cl.SecretSHA256 == "" && cl.OSUser != "" {
			p.add(fmt.Sprintf("clients[%d].secret_sha256", i), "is empty, so caller %s can only call where the OS names its account, and %s is not set; set %s (see config.example.yaml), or give the caller a secret with `agent clients rotate %s --print-secret`", orID(cl.ID), field, field, orID(cl.ID))
		}
	}
}

// socketProblem says what is wrong with unix_socket s on goos, or "".
func socketProblem(s, goos string) string {
	switch {
	case goos != "linux":
		return fmt.Sprintf("is %s, but the Unix socket transport needs Linux (the kernel's SO_PEERCRED names the caller); on Windows use named_pipe, elsewhere leave it empty", quote(s))
	case !strings.HasPrefix(s, "/"):
		return fmt.Sprintf("is %s; give an absolute path, e.g. /run/systemuser-agent/token.sock", quote(s))
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "contains a control character; give a plain absolute path, e.g. /run/systemuser-agent/token.sock"
	case path.Clean(s) != s:
		return fmt.Sprintf("is %s; write it plainly as %s", quote(s), quote(path.Clean(s)))
	case len(s) > maxSocketPath:
		return fmt.Sprintf("is %d bytes long; a Unix socket path has at most %d: choose a shorter one, e.g. /run/systemuser-agent/token.sock", len(s), maxSocketPath)
	case path.Dir(path.Dir(s)) == "/":
		return fmt.Sprintf("is %s; the socket needs a directory of its own, which the agent creates with mode 0750: e.g. /run/systemuser-agent/token.sock", quote(s))
	}
	return ""
}

// pipeProblem says what is wrong with named_pipe s on goos, or "".
func pipeProblem(s, goos string) string {
	name, ok := cutPrefixFold(s, pipePrefix)
	switch {
	case goos != "windows":
		return fmt.Sprintf("is %s, but named pipes are Windows only; on Linux use unix_socket, elsewhere leave it empty", quote(s))
	case !ok || name == "":
		return fmt.Sprintf(`is %s; a local pipe's name starts with \\.\pipe\, e.g. \\.\pipe\systemuser-agent\api`, quote(s))
	case strings.IndexFunc(s, unicode.IsControl) >= 0 || strings.Contains(s, "/"):
		return `contains a control character or "/"; use letters, digits, '-', '_', '.' and '\', e.g. \\.\pipe\systemuser-agent\api`
	case len(s) > maxPipeName:
		return fmt.Sprintf("is %d characters long; a pipe name has at most %d", len(s), maxPipeName)
	case strings.EqualFold(name, `systemuser-agent\keys`):
		return `is the key hand-over pipe's name (\\.\pipe\systemuser-agent\keys); choose another, e.g. \\.\pipe\systemuser-agent\api`
	}
	return ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
