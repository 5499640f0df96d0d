package main

import (
	"runtime"
	"testing"
)

// skipFileBackendOnWindows skips a test built on the file key backend, which Windows refuses (its
// permission checks are Unix modes; keystore.TestOpen shows the refusal). On Windows the key lives in
// the service account's Credential Manager vault, reached through the hand-over.
func skipFileBackendOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("uses the file key backend, which Windows refuses (keystore.TestOpen)")
	}
}
