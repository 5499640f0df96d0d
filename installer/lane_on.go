//go:build winelane

package installer

// wineLane is true in the wine lane's build only (build tag winelane: scripts/wine-lane builds the
// Windows test binaries and the agent.exe of the end-to-end test with it; scripts/release never does).
// It changes three things, each because wine lacks what Windows has, never to pass a check Windows would
// fail (docs/windows-test-plan.md has the real-Windows steps for each):
//   - service detection: wine's services.exe starts the service and answers its control dispatcher, but
//     golang.org/x/sys/windows/svc.IsWindowsService (parent process "services.exe" in session 0) says
//     false under wine, so the agent would not talk to the service manager (wine then reports "Service
//     request timeout"). Here a parent process named services.exe is enough (startedByWineServices).
//   - the ACL checks of install (config, state, executable): wine does not keep a protected DACL, so
//     they would refuse every path; Preflight checks only that the config and executable exist
//     (laneExists), and EnsureDirs creates the directories with their DACL without reading it back.
//     The checks themselves still run, under wine, in this package's tests.
//   - service settings wine's service manager does not implement (ERROR_INVALID_LEVEL): delayed
//     automatic start, recovery on error exits, the service SID type and required privileges; install
//     goes on without them (wineLacks). The recovery actions themselves are set.
const wineLane = true
