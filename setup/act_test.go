package setup

import "testing"

func TestListenPort(t *testing.T) {
	for in, want := range map[string]int{"127.0.0.1:7070": 7070, "[::1]:8443": 8443, "": 0, "127.0.0.1": 0, "127.0.0.1:x": 0} {
		if got := listenPort(in); got != want {
			t.Errorf("listenPort(%q) = %d, want %d", in, got, want)
		}
	}
}
