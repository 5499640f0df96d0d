// Package agent is the running service: the loopback OAuth2 client_credentials endpoint that hands
// Maskinporten/Altinn system-user tokens to authenticated local callers, token introspection for a
// caller's own tokens, health, readiness and Prometheus metrics. It applies every defence of the
// local API in design/security.md before routing: literal loopback bind (D1), Host allowlist (D2),
// browser requests refused (D3), proxy markers refused (D4), per-caller secrets compared in constant
// time (D5), per-caller allowlists (D6), a failure throttle (D7), resource limits (D8), port ownership
// (D9), a kernel-attested Unix socket on Linux (D10), no secrets in logs (D11), process hardening (D12),
// never an expired token (D14) and response hygiene (D16).
//
// agent knows nothing about the OS key store, the service manager or the clock: tokens come from a
// tokens.Source, the listener from Listen/ListenUnix (or the caller), the logger and clock from Options.
// It imports only the project's tokens and config packages. Only cmd/agent may import it; this is a
// binary with no Go API promise.
package agent
