// Package installer turns the agent binary into an OS service and runs it under the service manager:
// a hardened systemd unit of our own on Linux (DynamicUser, encrypted credentials, seccomp, read-only
// system), the Windows Service Control Manager through kardianos/service (virtual account
// NT SERVICE\<name>, delayed start, restart on any failure, Event Log source), and launchd on macOS for
// development only. It checks that config and state are owner-only before installing (D19) and adapts a
// context-driven Runner to the service manager's start/stop protocol (RunService).
//
// installer is the only package that imports github.com/kardianos/service. It owns the service's names:
// its account (ServiceAccount, Account; keystore receives it) and its state directory (ServiceStateDir).
// Only cmd/agent, setup (installing the service) and doctor (its status) import installer; agent,
// tokens, registry and keystore never do.
package installer
