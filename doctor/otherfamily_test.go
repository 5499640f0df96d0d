package doctor

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDoctorOtherFamilySquatter (issue 15 #7): a program listening on [::1]:p while the config says
// 127.0.0.1:p is reported as an error naming it, with the fix (stop it; callers use the literal address).
func TestDoctorOtherFamilySquatter(t *testing.T) {
	squat, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this host (%v): nobody can listen on [::1] here", err)
	}
	defer squat.Close()
	port := strconv.Itoa(squat.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	cfg := baseConfig(dir, "http://127.0.0.1:1")
	cfg.Listen = "127.0.0.1:" + port
	path := writeConfig(t, dir, cfg)
	rep := Run(context.Background(), Options{ConfigPath: path, StateDir: dir, Timeout: 30 * time.Second})
	for _, f := range rep.Findings {
		if f.Check == CheckPort && f.Severity == SevError && strings.Contains(f.Message, "[::1]:"+port) {
			if !strings.Contains(f.Message, "localhost") || !strings.Contains(f.Fix, "literal address http://127.0.0.1:"+port) {
				t.Errorf("finding does not say why and what to do: %+v", f)
			}
			return
		}
	}
	t.Fatalf("no error for the program on [::1]:%s in:\n%s", port, dump(rep))
}
