package tokens

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
)

// TestSecretsNeverInErrorsOrLogs runs successes, retries, refusals (with an upstream that echoes the
// grant and the token back) and background refresh failures with debug logging, then checks that no
// token, grant or grant segment appears in any log line, error string or formatted Token.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	var logs testlog.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := newFakeClock()
	f := newFakeMP(t, clk.Now)
	client := testClient(t, f, func(o *ClientOptions) { o.Logger = log })
	cache := NewCache(client, CacheOptions{Now: clk.Now, Logger: log})
	var outputs, secrets []string
	note := func(tok Token, err error) {
		if tok.AccessToken != "" {
			secrets = append(secrets, tok.AccessToken)
		}
		if err != nil {
			outputs = append(outputs, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err))
		}
		outputs = append(outputs, fmt.Sprintf("%v %+v %#v %s %q %x", tok, tok, tok, tok, tok, tok), tok.String())
		log.Info("token", "token", tok)
	}
	echoGrant := func(w http.ResponseWriter, r *http.Request) {
		oauthError(400, "invalid_grant", "MP-303 refused "+r.PostForm.Get("assertion"))(w, r)
	}
	echoBearer := func(w http.ResponseWriter, r *http.Request) {
		status(401, "bad token: "+r.Header.Get("Authorization"))(w, r)
	}
	alt := Request{Scopes: []string{"altinn:x"}, Org: "310000001", Kind: KindAltinn}
	ctx := context.Background()

	note(cache.Token(ctx, sysReq))     // plain success
	f.push(status(503, "down"), reset) // two failed attempts, then success
	note(cache.Refresh(ctx, sysReq))   // retries are logged
	note(cache.Token(ctx, alt))        // exchange
	f.push(echoGrant)                  // upstream echoes the grant in its error
	note(client.Token(ctx, Request{Scopes: []string{"other"}}))
	f.exchange = echoBearer // Altinn echoes the bearer token
	note(client.Exchange(ctx, mustToken(t, client, sysReq)))
	f.setAlways(echoGrant)
	clk.Advance(70 * time.Second) // refresh window: the background refresh fails and is logged
	note(cache.Token(ctx, sysReq))
	cache.bg.Wait()
	clk.Advance(45 * time.Second)
	note(cache.Token(ctx, sysReq)) // negative-cached MP-303 or the echoing error

	secrets = append(secrets, f.issuedTokens()...)
	for _, g := range f.recorded() {
		secrets = append(secrets, g.Raw)
		parts := strings.Split(g.Raw, ".")
		secrets = append(secrets, parts[1], parts[2])
	}
	if len(secrets) < 10 {
		t.Fatalf("only %d secrets collected; the scenario did not run", len(secrets))
	}
	all := logs.String() + strings.Join(outputs, "\n")
	if !strings.Contains(all, "retrying upstream request") || !strings.Contains(all, "MP-303") {
		t.Fatalf("scenario incomplete; logs:\n%s", logs.String())
	}
	if !strings.Contains(all, "[redacted]") {
		t.Error("the echoed grant was not redacted")
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret %.12s… found in logs or errors", s)
		}
	}
}
