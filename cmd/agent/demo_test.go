package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestDemoOnceJSON is the must-show: demo --once --json exits 0 and prints the claims of a real
// system-user token served by the agent.
func TestDemoOnceJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"demo", "--once", "--json"}, &env{stdin: new(bytes.Buffer), stdout: &out, stderr: &errb})
	if code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s", code, errb.String())
	}
	var got struct {
		TokenURL string         `json:"token_url"`
		Claims   map[string]any `json:"claims"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out.String())
	}
	c := got.Claims
	ad, _ := c["authorization_details"].([]any)
	if len(ad) != 1 {
		t.Fatalf("authorization_details = %v, want one entry", c["authorization_details"])
	}
	entry, _ := ad[0].(map[string]any)
	if entry["type"] != "urn:altinn:systemuser" {
		t.Errorf("authorization_details[0].type = %v", entry["type"])
	}
	org, _ := entry["systemuser_org"].(map[string]any)
	if org["ID"] != "0192:"+setup.DemoOrg {
		t.Errorf("systemuser_org = %v, want ID 0192:%s", org, setup.DemoOrg)
	}
	if ids, _ := entry["systemuser_id"].([]any); len(ids) != 1 || ids[0] == "" {
		t.Errorf("systemuser_id = %v, want one non-empty id", entry["systemuser_id"])
	}
	if c["consumer"] == nil || c["client_id"] == "" || c["client_id"] == nil {
		t.Errorf("consumer/client_id missing: %v", c)
	}
	exp, _ := c["exp"].(float64)
	if time.Unix(int64(exp), 0).Before(time.Now()) {
		t.Errorf("exp %v is not in the future", exp)
	}
	// With --once nothing serves after the demo: it offers no command that could only fail.
	if strings.Contains(errb.String(), "curl ") {
		t.Errorf("demo --once offers a curl command, which cannot work once it has exited:\n%s", errb.String())
	}
	// The demo shows claims, never the token itself (nor the caller secret, which lives in the netrc file).
	if jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.`); jwt.Match(out.Bytes()) || jwt.Match(errb.Bytes()) {
		t.Errorf("the demo printed a JWT")
	}
}
