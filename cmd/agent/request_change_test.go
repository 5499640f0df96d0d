package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
)

// TestRequestStatusShowsPendingChange runs the commands as wired: after onboarding, a right is added to
// the config and `agent setup --no-wait` sends a change request (exit 3). `agent request status` then
// shows the pending change request with its confirm URL (exit 3, in text and JSON) and `agent doctor`
// warns about it; once an administrator approves it, status shows no pending change (exit 0) and doctor
// reports no drift.
func TestRequestStatusShowsPendingChange(t *testing.T) {
	skipFileBackendOnWindows(t)
	w := newWizEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	approveCtx, stopApproving := context.WithCancel(ctx)
	w.approveAll(approveCtx)
	if res := runCmd(ctx, w.flags(), nil); res.code != exitOK {
		t.Fatalf("setup: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	stopApproving()

	cfg, err := config.Load(w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.System.Rights = append(cfg.System.Rights, config.Right{Resource: sandbox.ResourceSkatt})
	for i := range cfg.SystemUsers {
		if cfg.SystemUsers[i].Name == "payroll" {
			cfg.SystemUsers[i].Rights = []config.Right{{Resource: sandbox.ResourceExample}, {Resource: sandbox.ResourceSkatt}}
		}
	}
	if err := config.Save(w.cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	res := runCmd(ctx, []string{"setup", "--non-interactive", "--config", w.cfgPath, "--state-dir", w.stateDir, "--no-service", "--no-wait"}, nil)
	crs := w.sb.ChangeRequests()
	if res.code != exitWaiting || len(crs) != 2 {
		t.Fatalf("setup after adding a right: exit %d, %d change requests\n%s\n%s", res.code, len(crs), res.stdout, res.stderr)
	}
	for _, want := range []string{"APPROVAL NEEDED for a change to system user", "(change request " + crs[0].ID, "Not waiting (--no-wait)",
		"waiting for approval of 2 change request(s)"} {
		if !strings.Contains(res.stdout+res.stderr, want) {
			t.Errorf("setup --no-wait does not say %q:\n%s\n%s", want, res.stdout, res.stderr)
		}
	}
	if strings.Contains(res.stdout, "Waiting for the answer") || strings.Contains(res.stdout+res.stderr, "system user request(s)") {
		t.Errorf("setup --no-wait says it waits, or counts change requests as system user requests:\n%s\n%s", res.stdout, res.stderr)
	}
	status := []string{"request", "status", "--config", w.cfgPath, "--state-dir", w.stateDir}
	doctor := []string{"doctor", "--config", w.cfgPath, "--state-dir", w.stateDir}
	res = runCmd(ctx, status, nil)
	if res.code != exitWaiting {
		t.Fatalf("request status with changes pending: exit %d, want %d\n%s\n%s", res.code, exitWaiting, res.stdout, res.stderr)
	}
	res2 := runCmd(ctx, doctor, nil)
	if res2.code != exitOK {
		t.Fatalf("doctor with changes pending: exit %d\n%s", res2.code, res2.stdout)
	}
	for _, cr := range crs {
		users := map[string]string{}
		for _, u := range w.sb.SystemUsers() {
			users[u.ID] = u.ExternalRef
		}
		name := map[string]string{testOrg: "default", "payroll": "payroll"}[users[cr.SystemUserID]]
		url := w.sb.ChangeConfirmURL(cr.ID)
		line := "system user " + name + ": approved, system user id " + cr.SystemUserID + "; change request " + cr.ID +
			" (+ " + sandbox.ResourceSkatt + ") waits for approval at " + url
		if !strings.Contains(res.stdout, line) {
			t.Errorf("request status lacks %q:\n%s", line, res.stdout)
		}
		finding := `[WARN] rights   system user "` + name + `": change request ` + cr.ID + " (+ " + sandbox.ResourceSkatt + ") waits for approval at " + url
		if !strings.Contains(res2.stdout, finding) {
			t.Errorf("doctor lacks %q:\n%s", finding, res2.stdout)
		}
	}
	res = runCmd(ctx, append(status, "--json"), nil)
	var rep struct {
		Waiting bool `json:"waiting"`
		Pending []struct {
			SystemUser string `json:"system_user"`
			RequestID  string `json:"request_id"`
			ConfirmURL string `json:"confirm_url"`
			Change     bool   `json:"change"`
		} `json:"pending"`
	}
	if err := json.Unmarshal([]byte(lastJSON(res.stdout)), &rep); err != nil || res.code != exitWaiting || !rep.Waiting || len(rep.Pending) != 2 ||
		!rep.Pending[0].Change || rep.Pending[0].ConfirmURL != w.sb.ChangeConfirmURL(rep.Pending[0].RequestID) {
		t.Fatalf("request status --json: exit %d, %+v (%v)\n%s", res.code, rep, err, res.stdout)
	}

	for _, cr := range crs {
		if err := w.sb.ApproveChange(cr.ID); err != nil {
			t.Fatal(err)
		}
	}
	res = runCmd(ctx, status, nil)
	if res.code != exitOK || strings.Contains(res.stdout, "change request") && strings.Contains(res.stdout, "waits") ||
		strings.Count(res.stdout, "holds what the config asks (no drift)") != 2 {
		t.Fatalf("request status after approval: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	res = runCmd(ctx, doctor, nil)
	if res.code != exitOK || strings.Count(res.stdout, "[ok  ] rights") != 2 || strings.Contains(res.stdout, "waits for approval") {
		t.Fatalf("doctor after approval: exit %d\n%s", res.code, res.stdout)
	}
	if n := len(w.sb.ChangeRequests()); n != 2 {
		t.Fatalf("%d change requests after the status runs, want the 2 setup sent", n)
	}
}

// lastJSON is the last line of out that is a JSON object (the final document after the event lines).
func lastJSON(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "{") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return ""
}
