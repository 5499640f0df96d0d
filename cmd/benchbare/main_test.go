package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTokenBody: the reply is the agent's JSON shape with a fake token of exactly the asked size.
func TestTokenBody(t *testing.T) {
	for _, size := range []int{1, 1117, 4096} {
		b, err := tokenBody(size, 59, "altinn:demo/read")
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int64  `json:"expires_in"`
			Scope       string `json:"scope"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.AccessToken) != size || r.TokenType != "Bearer" || r.ExpiresIn != 59 || r.Scope != "altinn:demo/read" {
			t.Errorf("size %d: got %+v (token %d bytes)", size, r, len(r.AccessToken))
		}
	}
}

// TestRunServesAndRefusesNonLoopback: it serves the constant reply on loopback and refuses any other
// listen address.
func TestRunServesAndRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:80", "localhost:0", "127.0.0.1"} {
		if err := run(context.Background(), []string{"--listen", addr}, io.Discard); err == nil {
			t.Errorf("--listen %s accepted", addr)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--token-bytes", "10"}, pw) }()
	line := make([]byte, 64)
	n, err := pr.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+strings.TrimSpace(string(line[:n]))+"/oauth2/token", "application/x-www-form-urlencoded",
		strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want, _ := tokenBody(10, 119, "altinn:demo/read"); !bytes.Equal(body, want) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("reply %q (Cache-Control %q), want %q", body, resp.Header.Get("Cache-Control"), want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop when its context ended")
	}
}
