//go:build windows

package agent

import "syscall"

// setRcvBuf sets SO_RCVBUF on a socket.
func setRcvBuf(fd uintptr, n int) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
