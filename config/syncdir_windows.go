package config

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// syncDir does nothing on Windows: directories cannot be opened for fsync there, and NTFS journals the
// rename (MoveFileEx with MOVEFILE_REPLACE_EXISTING, which os.Rename uses).
func syncDir(string) error { return nil }

// giveToDirOwner is a no-op on Windows, where the state directory's inherited ACL grants the service
// account access.
func giveToDirOwner(path, dir string) error { return nil }

// renameBusyFor bounds how long replaceFile retries while a reader holds the target open.
const renameBusyFor = 5 * time.Second

// replaceFile renames tmp over path. On Windows a file another process has open without
// FILE_SHARE_DELETE (Go's os.Open, and most programs, open that way) cannot be replaced: MoveFileEx
// fails with access denied or a sharing violation until the reader closes it, usually within
// milliseconds. replaceFile retries for up to renameBusyFor, so the service reading its state does not
// make the CLI's write fail.
func replaceFile(tmp, path string) error {
	deadline := time.Now().Add(renameBusyFor)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := os.Rename(tmp, path)
		if err == nil || !busy(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
	}
}

func busy(err error) bool {
	return errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)
}

// openRead opens path for reading, retrying for up to renameBusyFor while replaceFile (in this or
// another process) is swapping it: during MoveFileEx the file is briefly held without read sharing.
func openRead(path string) (*os.File, error) {
	deadline := time.Now().Add(renameBusyFor)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		f, err := os.Open(path)
		if err == nil || !busy(err) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(wait)
	}
}
