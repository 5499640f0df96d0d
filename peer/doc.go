// Package peer opens the agent's kernel-attested local transports (security.md D10) and names each
// connection's OS account: on Linux a Unix socket whose peer uid the kernel reports (SO_PEERCRED), on
// Windows a named pipe whose client's account comes from its process token
// (GetNamedPipeClientProcessId). The caller accounts are the config's os_user values; each accepted
// connection is an agent.AttestedConn carrying the os_user its account matched, so that caller needs no
// secret, and a peer matching none is disconnected before a byte is read. The loopback TCP endpoint is
// unaffected.
package peer

// DefaultPipe is the callers' named pipe on Windows.
const DefaultPipe = `\\.\pipe\systemuser-agent\api`
