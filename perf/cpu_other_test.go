//go:build !unix

package perf

import "time"

// processCPU is 0 where the test does not read the process's CPU time.
func processCPU() time.Duration { return 0 }
