package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

func TestAsk(t *testing.T) {
	org := question{flag: "org", title: "Organisation number", help: "nine digits", check: setup.CheckOrg}
	withDef := org
	withDef.def = "314250052"
	badDef := org
	badDef.def = "314250053"
	tests := []struct {
		name     string
		mode     askMode
		q        question
		flags    map[string]string
		input    string
		want     string
		wantErr  string // substring of the error
		usage    bool   // the error is a usage error (exit 2)
		missing  string // a flag recorded as missing
		prompted []string
	}{
		{name: "flag answers, nothing asked", mode: modeInteractive, q: org, flags: map[string]string{"org": "314 250 052"}, want: "314250052"},
		{name: "invalid flag is a usage error naming the flag", mode: modeInteractive, q: org, flags: map[string]string{"org": "314250053"},
			wantErr: "--org \"314250053\": 314250053 is not an organisation number: the last digit should be 2", usage: true},
		{name: "invalid flag, non-interactive", mode: modeFlags, q: withDef, flags: map[string]string{"org": "12"}, wantErr: "exactly 9 digits", usage: true},
		{name: "typed answer", mode: modeInteractive, q: org, input: "314250052\n", want: "314250052", prompted: []string{"Organisation number  (--org)", "nine digits"}},
		{name: "empty answer takes the default", mode: modeInteractive, q: withDef, input: "\n", want: "314250052", prompted: []string{"[314250052] >"}},
		{name: "invalid answer is asked again with the reason", mode: modeInteractive, q: org, input: "123456789\n314250052\n", want: "314250052",
			prompted: []string{"✗ 123456789 is not an organisation number: the last digit should be 5"}},
		{name: "no answer and no default is asked again", mode: modeInteractive, q: org, input: "\n314250052\n", want: "314250052", prompted: []string{"✗ an answer is needed"}},
		{name: "input ends", mode: modeInteractive, q: org, input: "12\n", wantErr: "input ended before \"Organisation number\" was answered"},
		{name: "too many wrong answers", mode: modeInteractive, q: org, input: strings.Repeat("1\n", maxTries), wantErr: "invalid answers in a row"},
		{name: "non-interactive default", mode: modeFlags, q: withDef, want: "314250052"},
		{name: "non-interactive without default is missing", mode: modeFlags, q: org, missing: "--org"},
		{name: "non-interactive invalid config value", mode: modeFlags, q: badDef, wantErr: "not valid", usage: true},
		{name: "no terminal: missing, nothing read", mode: modeNoTTY, q: org, input: "314250052\n", missing: "--org"},
		{name: "no terminal: a bad config value is missing", mode: modeNoTTY, q: badDef, missing: "--org"},
		{name: "optional without default", mode: modeFlags, q: question{flag: "rights", optional: true}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out testlog.Buffer
			a := &asker{mode: tt.mode, out: &out, flags: tt.flags}
			if tt.mode == modeInteractive {
				a.in = newLineReader(strings.NewReader(tt.input), -1)
				defer a.in.close()
			}
			got, err := a.ask(context.Background(), tt.q)
			if tt.wantErr != "" {
				var ue usageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.As(err, &ue) != tt.usage {
					t.Fatalf("error %v, want %q (usage error: %v)", err, tt.wantErr, tt.usage)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			if tt.missing != "" {
				merr := a.missingError()
				if merr == nil || !strings.Contains(merr.Error(), tt.missing) {
					t.Errorf("missing error %v, want it to name %s", merr, tt.missing)
				}
			} else if merr := a.missingError(); merr != nil {
				t.Errorf("unexpected missing error %v", merr)
			}
			for _, p := range tt.prompted {
				if !strings.Contains(out.String(), p) {
					t.Errorf("stderr lacks %q:\n%s", p, out.String())
				}
			}
			if tt.mode != modeInteractive && out.String() != "" {
				t.Errorf("a non-interactive mode printed a prompt: %q", out.String())
			}
		})
	}
}

// TestAskCancelled shows Ctrl-C ends a pending question at once.
func TestAskCancelled(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	a := &asker{mode: modeInteractive, out: &testlog.Buffer{}, in: newLineReader(r, -1)}
	defer a.in.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.ask(ctx, question{flag: "org", title: "Organisation number"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// TestCheckYesNo: a Norwegian yes is yes.
func TestCheckYesNo(t *testing.T) {
	if got, err := checkYesNo("J"); err != nil || got != "yes" {
		t.Fatalf("got %q, %v; want %q", got, err, "yes")
	}
}
