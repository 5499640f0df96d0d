//go:build winelane && windows

package installer

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// startedByWineServices says whether this process's parent is services.exe (wine lane only: lane_on.go).
func startedByWineServices() bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(os.Getppid()))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return false
	}
	return strings.EqualFold(filepath.Base(windows.UTF16ToString(buf[:n])), "services.exe")
}
