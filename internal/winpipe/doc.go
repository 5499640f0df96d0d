// Package winpipe is a Windows named-pipe listener and dialer as net.Listener and net.Conn, shared by the
// key hand-over (keystore) and the callers' pipe (peer). Instances are overlapped, so a blocked Accept
// is woken by Close and connections support deadlines. Windows only, but for the plain rule of what an
// os_user may be (OneAccount: one account, never a group), which peer and callersecret share.
package winpipe
