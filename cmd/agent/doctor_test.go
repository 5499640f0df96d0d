package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/doctor"
)

// TestDoctorCommand runs `agent doctor` as wired: healthy after a setup (exit 0), then with the
// upstreams gone (exit 1, each problem with its fix), in text and JSON.
func TestDoctorCommand(t *testing.T) {
	skipFileBackendOnWindows(t)
	w := newWizEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.approveAll(ctx)
	if res := runCmd(ctx, w.flags(), nil); res.code != exitOK {
		t.Fatalf("setup: %s", res.stderr)
	}
	args := []string{"doctor", "--config", w.cfgPath, "--state-dir", w.stateDir}
	res := runCmd(ctx, args, nil)
	if res.code != exitOK {
		t.Fatalf("doctor after setup: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"[ok  ] token", `system user "payroll" is approved`, "caller sap: the secret file", "0 error(s)"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, res.stdout)
		}
	}
	noSecretIn(t, w, res.stdout, res.stderr)

	_ = w.sb.Close()
	res = runCmd(ctx, append(args, "--json"), nil)
	if res.code != exitError {
		t.Fatalf("doctor with the upstreams gone: exit %d\n%s", res.code, res.stdout)
	}
	var rep struct {
		OK       bool             `json:"ok"`
		Findings []doctor.Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || rep.OK {
		t.Fatalf("JSON report %s (%v)", res.stdout, err)
	}
	unreachable := 0
	for _, f := range rep.Findings {
		if f.Severity == doctor.SevError && f.Fix == "" {
			t.Errorf("error without a fix: %+v", f)
		}
		if f.Check == doctor.CheckUpstream && f.Severity == doctor.SevError {
			unreachable++
		}
	}
	if unreachable != 2 {
		t.Errorf("%d unreachable upstreams reported, want Maskinporten and Altinn:\n%s", unreachable, res.stdout)
	}
}

// TestDoctorHintsNameTheProgram: the packaged binary is systemuser-agent (agent.exe on Windows), so
// doctor's fixes name the program as it was run, not "agent".
func TestDoctorHintsNameTheProgram(t *testing.T) {
	name := "systemuser-agent"
	bin := filepath.Join(t.TempDir(), name)
	if err := os.Rename(buildAgent(t), bin); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "doctor", "--config", filepath.Join(t.TempDir(), "none.yaml")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "run `"+name+" setup`") || strings.Contains(string(out), "`agent ") {
		t.Fatalf("doctor without a config (%v):\n%s", err, out)
	}
}
