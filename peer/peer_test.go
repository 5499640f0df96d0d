package peer

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/agent"
	"github.com/systemuser-agent/systemuser-agent/config"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// fixedSource hands out one token.
type fixedSource struct{}

func (fixedSource) Token(_ context.Context, r tokens.Request) (tokens.Token, error) {
	return tokens.Token{AccessToken: "tok-" + r.ScopeString(), TokenType: "Bearer", Scope: r.ScopeString(),
		Expiry: time.Now().Add(time.Hour)}, nil
}

// testConfig has one caller, "svc", with os_user osUser and no secret.
func testConfig(osUser string) *config.Config {
	return &config.Config{
		Organization: "314250052", // a valid number: agent.New takes config's mod-11 check
		Listen:       "127.0.0.1:7070",
		SystemUsers:  []config.SystemUser{{Name: "default", Scopes: []string{"test:a"}}},
		Clients: []config.Client{{ID: "svc", OSUser: osUser, SystemUsers: []string{"default"},
			Scopes: []string{"test:a"}}},
	}
}

// serve runs the agent on ln until the test ends.
func serve(t *testing.T, cfg *config.Config, ln net.Listener) {
	t.Helper()
	srv, err := agent.New(agent.Options{Config: cfg, Tokens: fixedSource{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// tokenOver asks for a token with no secret at all (just client_id) over dial; it returns the HTTP
// status, or 0 and the error when the connection was refused or dropped.
func tokenOver(dial func(ctx context.Context) (net.Conn, error)) (int, string, error) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}}
	resp, err := c.Post("http://localhost/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.AccessToken, nil
}
