// Package perf holds the resilience tests and load benchmarks of issue 9 as Go tests: the real agent
// (agent.Server) over real loopback HTTP, backed by tokens.Cache and tokens.Client, against the sandbox's
// Maskinporten and Altinn. They prove counts, not speeds: one upstream grant per cache key under a cold
// stampede, no expired token and no caller waiting on a refresh under load, cached tokens served through
// an outage until the minimum validity, then 503 with Retry-After, never a hang, and recovery after it.
// Speed lives in its benchmarks (go test -bench) and in scripts/bench, which drives the built binary with
// wrk; docs/performance.md has the numbers.
//
// The package has no non-test code and nothing imports it.
package perf
