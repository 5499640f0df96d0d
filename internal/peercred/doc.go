// Package peercred reads the credentials the kernel recorded for the other end of a Unix socket
// connection (SO_PEERCRED): the callers' socket (agent) and the root-only reload socket (keystore) both
// decide who they talk to by them. Linux only.
package peercred
