package doctor

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/installer"
)

// checkService reports what the service manager says.
func (r *run) checkService() {
	if r.o.Service == nil {
		return
	}
	st, err := r.o.Service()
	if err != nil && errors.Is(err, installer.ErrNoServiceManager) {
		r.add(Finding{Check: CheckService, Severity: SevInfo, Message: "the service manager cannot be asked here: " + err.Error(),
			Fix: "on a machine without a running service manager, run the agent in the foreground with `agent run`"})
		return
	}
	if err != nil {
		r.add(Finding{Check: CheckService, Severity: SevWarning, Message: "the service state is unknown: " + err.Error(),
			Fix: "check with `agent service status`, or your service manager"})
		return
	}
	detail := map[string]string{"state": string(st.State), "platform": st.Platform, "definition": st.Definition}
	switch {
	case !st.Installed || st.State == installer.StateNotInstalled:
		r.add(Finding{Check: CheckService, Severity: SevWarning, Message: "the service is not installed", Fix: "run `agent service install` then `agent service start` (or `agent setup`)", Detail: detail})
	case st.State == installer.StateRunning:
		r.add(Finding{Check: CheckService, Severity: SevOK, Message: fmt.Sprintf("the service is running (pid %d)", st.PID), Detail: detail})
	case st.State == installer.StateFailed:
		r.add(Finding{Check: CheckService, Severity: SevError, Message: "the service has failed: " + st.Detail,
			Fix: "read its log (journalctl -u systemuser-agent -e, or the Event Viewer on Windows), fix the cause, then `agent service restart`", Detail: detail})
	case st.State == installer.StateStopped:
		r.add(Finding{Check: CheckService, Severity: SevWarning, Message: "the service is installed but stopped", Fix: "run `agent service start`", Detail: detail})
	default:
		r.add(Finding{Check: CheckService, Severity: SevInfo, Message: "the service is " + string(st.State) + " " + st.Detail, Detail: detail})
	}
}

// checkPort tries to bind the listen address: free is fine; taken by the agent is fine (and its
// readiness is reported); taken by anything else is an error that names the owner when it can.
func (r *run) checkPort(ctx context.Context) {
	addr := r.cfg.Listen
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		r.add(Finding{Check: CheckPort, Severity: SevOK, Message: addr + " is free: the agent can listen there (it is not running now)"})
		return
	}
	if !addrInUse(err) {
		r.add(Finding{Check: CheckPort, Severity: SevError, Message: "cannot listen on " + addr + ": " + err.Error(),
			Fix: "choose a literal loopback address this machine has, e.g. 127.0.0.1:7070 (listen in the config)"})
		return
	}
	if r.isAgent(ctx, addr) {
		f := Finding{Check: CheckPort, Severity: SevOK, Message: addr + " is held by the agent itself"}
		if reason, ready := r.ready(ctx, addr); !ready {
			f.Severity, f.Message = SevWarning, addr+" is held by the agent, which is not ready: "+reason
			f.Fix = "follow the reason given; `agent doctor` above shows the cause"
		} else {
			f.Message += ", and it is ready (it read the key and the system users are accepted)"
		}
		r.add(f)
		return
	}
	owner := portOwner(addr)
	msg := addr + " is taken by another program"
	if owner != "" {
		msg += ": " + owner
	}
	_, port, _ := net.SplitHostPort(addr)
	r.add(Finding{Check: CheckPort, Severity: SevError, Message: msg + "; the agent never falls back to another port",
		Fix:    fmt.Sprintf("stop that program (find it with `ss -ltnp 'sport = :%s'`, `lsof -nP -iTCP:%s -sTCP:LISTEN` or `netstat -abno`), or change listen in the config and in every caller", port, port),
		Detail: map[string]string{"listen": addr, "owner": owner}})
}

// checkOtherFamily reports a program other than the agent listening on the other loopback family's
// address of the listen port ([::1]:p for 127.0.0.1:p, and the reverse): callers reaching the agent
// by the name localhost may resolve it first and hand their secret to that program (issue 15 #7).
func (r *run) checkOtherFamily(ctx context.Context) {
	ap, err := netip.ParseAddrPort(r.cfg.Listen)
	if err != nil {
		return
	}
	var other netip.Addr
	switch ap.Addr() {
	case netip.AddrFrom4([4]byte{127, 0, 0, 1}):
		other = netip.IPv6Loopback()
	case netip.IPv6Loopback():
		other = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		return
	}
	addr := netip.AddrPortFrom(other, ap.Port()).String()
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return // free: the agent takes it when it starts
	}
	if !addrInUse(err) || r.isAgent(ctx, addr) {
		return // no such family here, or the agent holds it
	}
	owner := portOwner(addr)
	msg := addr + " (the other loopback family of listen " + r.cfg.Listen + ") is held by another program"
	if owner != "" {
		msg += ": " + owner
	}
	r.add(Finding{Check: CheckPort, Severity: SevError,
		Message: msg + "; callers that reach the agent by the name localhost may resolve it and hand their secret to it, and the agent refuses to start",
		Fix:     fmt.Sprintf("stop that program (find it with `ss -ltnp 'sport = :%d'` or `netstat -abno`), and configure every caller with the literal address http://%s, never localhost", ap.Port(), r.cfg.Listen),
		Detail:  map[string]string{"listen": r.cfg.Listen, "other": addr, "owner": owner}})
}

func addrInUse(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "address already in use") || strings.Contains(err.Error(), "10048")
}

// localGet GETs a path on the local endpoint with a short timeout.
func (r *run) localGet(ctx context.Context, addr, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, min(3*time.Second, r.o.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// isAgent recognises the agent by its own metrics.
func (r *run) isAgent(ctx context.Context, addr string) bool {
	code, body, err := r.localGet(ctx, addr, "/metrics")
	return err == nil && code == http.StatusOK && strings.Contains(string(body), "systemuser_agent_")
}

// ready asks the running agent's /readyz.
func (r *run) ready(ctx context.Context, addr string) (string, bool) {
	code, body, err := r.localGet(ctx, addr, "/readyz")
	if err != nil {
		return err.Error(), false
	}
	if code == http.StatusOK {
		return "", true
	}
	var st struct{ Reason string }
	_ = json.Unmarshal(body, &st)
	return fmt.Sprintf("HTTP %d %s", code, st.Reason), false
}

// checkCallers checks each local caller's secret file: owner-only and owned by the caller's account
// (the real owner is reported, D19), and matching its digest.
func (r *run) checkCallers() {
	for _, cl := range r.cfg.Clients {
		if cl.SecretFile == "" {
			r.add(Finding{Check: CheckCallers, Severity: SevInfo, Message: fmt.Sprintf("caller %s: no secret file recorded (its secret was shown once)", cl.ID)})
			continue
		}
		owner, permErr := installer.CheckOwnerOnly(cl.SecretFile, cl.OSUser)
		if permErr != nil && !errors.Is(permErr, os.ErrNotExist) {
			r.add(Finding{Check: CheckCallers, Severity: SevError, Message: fmt.Sprintf("caller %s: %v", cl.ID, permErr),
				Fix:    "apply the fix named above, then make a new secret (`agent clients rotate " + cl.ID + "`): another account may have read it",
				Detail: map[string]string{"path": cl.SecretFile, "owner": owner, "os_user": cl.OSUser}})
			continue
		}
		switch ok, err := fileMatches(cl.SecretFile, cl.SecretSHA256); {
		case errors.Is(err, os.ErrNotExist):
			r.add(Finding{Check: CheckCallers, Severity: SevWarning, Message: fmt.Sprintf("caller %s: the secret file %s is missing", cl.ID, cl.SecretFile),
				Fix: "make a new secret: `agent clients rotate " + cl.ID + "`"})
		case err != nil:
			r.add(Finding{Check: CheckCallers, Severity: SevInfo, Message: fmt.Sprintf("caller %s: cannot read %s to check it (%v); run doctor as root or Administrator to check it", cl.ID, cl.SecretFile, err)})
		case !ok:
			r.add(Finding{Check: CheckCallers, Severity: SevError, Message: fmt.Sprintf("caller %s: the secret in %s does not match the config, so the caller is refused", cl.ID, cl.SecretFile),
				Fix: "make a new secret: `agent clients rotate " + cl.ID + "`"})
		default:
			r.add(Finding{Check: CheckCallers, Severity: SevOK, Message: fmt.Sprintf("caller %s: the secret file %s matches, is owner-only and owned by %s", cl.ID, cl.SecretFile, owner),
				Detail: map[string]string{"path": cl.SecretFile, "owner": owner}})
		}
	}
}

// fileMatches compares the SHA-256 of a secret file with the hex digest, in constant time.
func fileMatches(path, want string) (bool, error) {
	if path == "" {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(b)
	clear(b)
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(want)) == 1, nil
}
