package agent

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// HardenProcess protects the process's memory (D12): PR_SET_DUMPABLE 0 means no core dump, no ptrace by
// other processes of the same user and /proc/<pid> files owned by root; RLIMIT_CORE 0 backs it up. Call
// it first thing in the service.
func HardenProcess() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("agent: prctl(PR_SET_DUMPABLE, 0): %w; the kernel must allow it", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("agent: setting RLIMIT_CORE to 0: %w; set LimitCORE=0 in the unit", err)
	}
	return nil
}
