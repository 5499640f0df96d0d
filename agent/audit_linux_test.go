package agent

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestD20AuditNamesOSAccount: over the Unix socket the audit line names the caller's OS account as the
// kernel attested it (the os_user it matched and its uid), not "unknown".
func TestD20AuditNamesOSAccount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	uid := os.Getuid()
	ln, err := ListenUnixAccounts(path, map[int]string{uid: "sapadm"})
	if err != nil {
		t.Fatal(err)
	}
	a := startAgentOn(t, ln)
	if r := a.tokenFor(t, idA, secretA, nil); r.status != http.StatusOK {
		t.Fatalf("token over the socket: %v", r)
	}
	want := "os_account=sapadm(uid:" + strconv.Itoa(uid) + ")"
	if logs := a.logs.String(); !strings.Contains(logs, `msg="token issued to caller" client_id=`+idA+" "+want) {
		t.Fatalf("no audit line with %s:\n%s", want, logs)
	}
}
