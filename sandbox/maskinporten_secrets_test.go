package sandbox

import (
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
)

// jwtLikeRe matches anything shaped like a JWS: two base64url JSON segments.
var jwtLikeRe = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

// TestSecretsNotLogged runs accepted, rejected, replayed and faulted grants with debug logging on and
// checks that no grant, grant signature or access token reaches the log or an error reply.
func TestSecretsNotLogged(t *testing.T) {
	var logs testlog.Buffer
	e := newMPEnv(t, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var secrets, replies []string
	send := func(g string) *tokenResp {
		secrets = append(secrets, g, g[strings.LastIndex(g, ".")+1:])
		r := e.post(g)
		if r.AccessToken != "" {
			secrets = append(secrets, r.AccessToken, r.AccessToken[strings.LastIndex(r.AccessToken, ".")+1:])
		}
		replies = append(replies, r.ErrorDescription)
		return r
	}
	g := e.grant()
	if r := send(g); r.status != http.StatusOK {
		t.Fatalf("valid grant: %d %s", r.status, r.ErrorDescription)
	}
	send(g) // replay
	send(e.grant(func(g *grantSpec) { g.key = testKeys()[1] }))
	send(e.grant(claim("iss", "nobody")))
	send(e.grant(rarField("externalRef", "nobody")))
	send(e.grant(claim("sub", "x")))
	e.s.Inject(TargetMaskinporten, Fault{LoseReply: true, Times: 1})
	lost := e.grant()
	secrets = append(secrets, lost)
	_, _, _ = e.rawPost(lost)
	e.s.Inject(TargetMaskinporten, Fault{Status: http.StatusServiceUnavailable, Times: 1})
	send(e.grant())

	out := logs.String()
	if !strings.Contains(out, "token issued") || !strings.Contains(out, "MP-012") {
		t.Fatalf("the log misses the expected lines; is the logger wired? %s", out)
	}
	if m := jwtLikeRe.FindString(out); m != "" {
		t.Errorf("the log holds something JWT-shaped: %.40s...", m)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a grant or token (%.12s...)", s)
		}
		for _, r := range replies {
			if strings.Contains(r, s) {
				t.Errorf("an error reply holds a grant or token (%.12s...)", s)
			}
		}
	}
}
