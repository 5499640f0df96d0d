//go:build !windows

package callersecret

import (
	"os"
	"syscall"
)

// fileOwner is the owner's uid and gid of fi.
func fileOwner(fi os.FileInfo) (int, int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
