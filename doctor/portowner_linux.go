package doctor

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portOwner names the process listening on addr ("pid 1234 (nginx)"), read from /proc; "" when it
// cannot tell (another user's process without root, or no /proc).
func portOwner(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	inode := listenInode(ap)
	if inode == "" {
		return ""
	}
	target := "socket:[" + inode + "]"
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		if link, err := os.Readlink(fd); err == nil && link == target {
			pid := strings.Split(fd, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			return fmt.Sprintf("pid %s (%s)", pid, strings.TrimSpace(string(comm)))
		}
	}
	return ""
}

// listenInode finds the socket inode of a listener on ap in /proc/net/tcp or tcp6.
func listenInode(ap netip.AddrPort) string {
	file := "/proc/net/tcp"
	if ap.Addr().Is6() {
		file = "/proc/net/tcp6"
	}
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", ap.Port())
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		if len(fields) < 10 || fields[3] != "0A" || !strings.HasSuffix(fields[1], want) {
			continue
		}
		if hexAddrMatches(strings.TrimSuffix(fields[1], want), ap) {
			return fields[9]
		}
	}
	return ""
}

// hexAddrMatches compares /proc's little-endian hex address with ap's address (or a wildcard).
func hexAddrMatches(h string, ap netip.AddrPort) bool {
	if strings.Trim(h, "0") == "" {
		return true // a wildcard listener holds every address
	}
	if len(h) != 8 || !ap.Addr().Is4() {
		return len(h) == 32 && ap.Addr().Is6()
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return false
	}
	a := ap.Addr().As4()
	return byte(v) == a[0] && byte(v>>8) == a[1] && byte(v>>16) == a[2] && byte(v>>24) == a[3]
}
