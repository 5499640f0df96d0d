//go:build !windows

package main

import (
	"os"
	"syscall"
)

// fileUID is the owner's uid of fi.
func fileUID(fi os.FileInfo) int { uid, _ := fileOwner(fi); return uid }

// fileOwner is the owner's uid and gid of fi.
func fileOwner(fi os.FileInfo) (int, int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}
