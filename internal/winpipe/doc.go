// Package winpipe is a Windows named-pipe listener and dialer as net.Listener and net.Conn, shared by the
// key hand-over (keystore) and the callers' pipe (peer). Instances are overlapped, so a blocked Accept
// is woken by Close and connections support deadlines. Windows only; elsewhere it is empty.
package winpipe
