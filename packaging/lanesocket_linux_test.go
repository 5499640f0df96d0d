package packaging

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cSocket is the Unix socket the socket stage configures (config unix_socket, security.md D10).
const cSocket = "/run/systemuser-agent/token.sock"

// socketClient is a Perl client (perl-base is in every Debian) that posts client_credentials with a
// client_id and no secret over the Unix socket and prints the reply.
const socketClient = `use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n";
my $b = "grant_type=client_credentials&client_id=$ARGV[1]";
print $s "POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " . length($b) . "\r\nConnection: close\r\n\r\n$b";
local $/; my $r = <$s>; print defined $r ? $r : "";`

// stageUnixSocket: with unix_socket and a caller whose os_user is lanecaller and who has no secret,
// "systemuser-agent service install" writes a unit that makes /run/systemuser-agent (RuntimeDirectory=)
// and has no PrivateUsers=; under real systemd, as the DynamicUser, the agent serves the socket: lanecaller
// gets a token with no secret, another account cannot connect (the directory's ACL), root is dropped
// before a reply; the live exposure stays at most 2.0. Then the stage puts the packaged unit and the
// config back.
func stageUnixSocket(t *testing.T, l *lane) {
	orig, err := os.ReadFile(l.inContainer(cConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"lanecaller", "lanestranger"} {
		l.out(t, "useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", u)
	}
	cfg := string(orig) + `  - id: lane-socket
    os_user: lanecaller
    system_users: [default]
    scopes: [altinn:demo/read]
unix_socket: ` + cSocket + "\n"
	if err := os.WriteFile(l.inContainer(cConfig), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { // back to the packaged unit and the lane's config
		if err := os.WriteFile(l.inContainer(cConfig), orig, 0o600); err != nil {
			t.Error(err)
		}
		l.out(t, "rm", "-f", "/etc/systemd/system/"+cUnit)
		l.out(t, "systemctl", "daemon-reload")
		l.out(t, "systemctl", "restart", cUnit)
		l.waitToken(t, 30*time.Second)
	}()
	l.out(t, cBinary, "service", "install", "--config", cConfig)
	unit := l.out(t, "systemctl", "cat", cUnit)
	if !strings.Contains(unit, "RuntimeDirectory=systemuser-agent\n") || strings.Contains(unit, "PrivateUsers=yes") {
		t.Fatalf("the installed unit has no RuntimeDirectory=systemuser-agent or still PrivateUsers=yes:\n%s", unit)
	}
	l.out(t, "systemctl", "restart", cUnit)
	l.waitToken(t, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := l.run(t, "test", "-S", cSocket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket %s after 30 s:\n%s", cSocket, l.out(t, "journalctl", "--no-pager", "-n", "30", "-u", cUnit))
		}
		time.Sleep(100 * time.Millisecond)
	}
	as := func(user string) string {
		t.Helper()
		args := []string{"-t", strconv.Itoa(l.pid), "-a"}
		if user != "root" {
			uid := strings.TrimSpace(l.out(t, "id", "-u", user))
			gid := strings.TrimSpace(l.out(t, "id", "-g", user))
			args = append(args, "-S", uid, "-G", gid)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "nsenter", append(args, "--", "perl", "-e", socketClient, cSocket, "lane-socket")...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "error: " + err.Error() + ": " + string(out)
		}
		return string(out)
	}
	if got := as("lanecaller"); !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.Contains(got, `"access_token"`) {
		t.Errorf("lanecaller (os_user) over the socket with no secret: %.300s", got)
	} else if i := strings.Index(got, `"access_token":"`); i >= 0 {
		tok := got[i+len(`"access_token":"`):]
		l.tokens = append(l.tokens, tok[:max(strings.IndexByte(tok, '"'), 0)])
	}
	if got := as("lanestranger"); !strings.Contains(got, "Permission denied") {
		t.Errorf("lanestranger (not mapped) over the socket: want connect refused by the directory, got %.300s", got)
	}
	if got := as("root"); strings.Contains(got, "HTTP/") {
		t.Errorf("root (not mapped) over the socket: want no reply, got %.300s", got)
	}
	out, _ := l.run(t, "systemd-analyze", "security", cUnit)
	sm := exposureRE.FindStringSubmatch(out)
	if sm == nil {
		t.Fatalf("systemd-analyze security: no score:\n%s", out)
	}
	if score, _ := strconv.ParseFloat(sm[1], 64); score > 2.0 {
		t.Errorf("live exposure with the socket %.1f > 2.0", score)
	} else {
		t.Logf("live exposure with the socket %.1f", score)
	}
}
