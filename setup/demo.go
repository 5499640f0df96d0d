package setup

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/systemuser-agent/systemuser-agent/config"
)

// Demo identities of `agent demo`: a valid test organisation number (mod-11), the scope the demo caller
// gets, and the caller's id.
const (
	DemoOrg      = "314250052"
	DemoScope    = "altinn:demo/read"
	DemoCallerID = "demo-app"
)

// DemoConfig is the configuration `agent demo` runs with: the sandbox endpoints ep, a memory key, one
// system user and one caller (DemoCallerID, whose secret has the SHA-256 digest).
func DemoConfig(ep config.Endpoints, clientID, kid, digest, listen string) *config.Config {
	right := config.Right{Resource: "example-resource"}
	return &config.Config{
		Environment:  config.EnvSandbox,
		Endpoints:    ep,
		Organization: DemoOrg,
		Maskinporten: config.Maskinporten{ClientID: clientID, KID: kid, Key: config.KeyRef{Backend: "memory", Name: "maskinporten"}},
		System: config.System{
			ID:          DemoOrg + "_demo",
			Name:        config.Texts{NB: "Demo lokal", NN: "Demo lokal", EN: "Demo local"},
			Description: config.Texts{NB: "Eget system, demo", NN: "Eige system, demo", EN: "In-house system, demo"},
			Rights:      []config.Right{right},
		},
		SystemUsers: []config.SystemUser{{Name: "default", Scopes: []string{DemoScope}}},
		Listen:      listen,
		Tokens:      config.TokenSettings{MinValidity: 10 * time.Second, RefreshAhead: 60 * time.Second},
		Clients:     []config.Client{{ID: DemoCallerID, SecretSHA256: digest, SystemUsers: []string{"default"}, Scopes: []string{DemoScope}}},
	}
}

// NewDemoID returns a random client id in UUID form.
func NewDemoID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// LocalToken gets a token from the local agent at tokenURL as an OAuth2 client would
// (client_credentials, client_secret_basic): the demo's last step, and a check that the endpoint works.
func LocalToken(ctx context.Context, hc *http.Client, tokenURL, id, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("HTTP %d with an unreadable body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d %s: %s", resp.StatusCode, body.Error, body.Description)
	}
	if body.AccessToken == "" {
		return "", errors.New("the reply has no access_token")
	}
	return body.AccessToken, nil
}
