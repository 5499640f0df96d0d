//go:build unix

package agent

import "syscall"

// setRcvBuf sets SO_RCVBUF on a socket.
func setRcvBuf(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
