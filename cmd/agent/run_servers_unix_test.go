//go:build !windows

package main

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/keystore"
	"github.com/systemuser-agent/systemuser-agent/registry"
	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/setup"
)

// TestTwoServersOwnClients (layout A): two agent processes, each with its own Maskinporten client. The
// second server's `agent system register` adds its client id to the system and keeps the first's; its
// `agent request create` finds the existing system user and sends nothing. Both serve tokens, and both
// tokens act as the same system user.
func TestTwoServersOwnClients(t *testing.T) {
	bin := buildAgent(t)
	sb := sandbox.New(sandbox.Options{})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	sysID := setup.DemoOrg + "_two"
	one := newServer(t, sb, setup.NewDemoID(), sysID)
	two := newServer(t, sb, setup.NewDemoID(), sysID)
	for _, s := range []*server{one, two} {
		if err := sb.RegisterClient(sandbox.Client{ID: s.clientID, Org: setup.DemoOrg, Scopes: append(registry.Scopes(), setup.DemoScope),
			Keys: []sandbox.ClientKey{{KID: s.kid, Public: s.public(t, "maskinporten")}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sb.SeedSystem(sandbox.SystemSeed{ID: sysID, ClientIDs: []string{one.clientID}, Rights: []string{sandbox.ResourceExample}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.SeedSystemUser(sysID, setup.DemoOrg, ""); err != nil {
		t.Fatal(err)
	}
	two.agent(t, bin, "system", "register")
	two.agent(t, bin, "request", "create")
	if got := sb.Systems()[0].ClientIDs; !slices.Equal(got, []string{one.clientID, two.clientID}) {
		t.Fatalf("system client ids %v, want both servers'", got)
	}
	if n := len(sb.Requests()); n != 1 {
		t.Fatalf("%d requests: the second server must reuse the system user", n)
	}
	one.start(t, bin)
	two.start(t, bin)
	var ids, clients []string
	for _, s := range []*server{one, two} {
		tok, err := s.token(t)
		if err != nil {
			t.Fatalf("server %s: %v\n%s", s.listen, err, s.logs.String())
		}
		claims, err := sb.VerifyAccessToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		ad := claims["authorization_details"].([]any)[0].(map[string]any)
		ids = append(ids, ad["systemuser_id"].([]any)[0].(string))
		clients = append(clients, claims["client_id"].(string))
	}
	if ids[0] != ids[1] || clients[0] == clients[1] {
		t.Fatalf("system users %v via clients %v: want one system user, two clients", ids, clients)
	}
}

// TestTwoServersOneClientRotateOne (layout B): two agent processes share one Maskinporten client, one key
// each. Server two rotates its key (rotate, register the next key beside server one's, activate, SIGHUP,
// remove its old key) while both serve callers without pause: no request fails on either server.
func TestTwoServersOneClientRotateOne(t *testing.T) {
	bin := buildAgent(t)
	sb := sandbox.New(sandbox.Options{TokenLifetime: 15 * time.Second})
	if err := sb.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	sysID, clientID := setup.DemoOrg+"_shared", setup.NewDemoID()
	one := newServer(t, sb, clientID, sysID)
	two := newServer(t, sb, clientID, sysID)
	if err := sb.RegisterClient(sandbox.Client{ID: clientID, Org: setup.DemoOrg, Scopes: []string{setup.DemoScope},
		Keys: []sandbox.ClientKey{{KID: one.kid, Public: one.public(t, "maskinporten")}, {KID: two.kid, Public: two.public(t, "maskinporten")}}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.SeedSystem(sandbox.SystemSeed{ID: sysID, ClientIDs: []string{clientID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.SeedSystemUser(sysID, setup.DemoOrg, ""); err != nil {
		t.Fatal(err)
	}
	one.start(t, bin)
	two.start(t, bin)
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	load(t, stop, &wg, &ok, &failed, one, two)
	defer func() { close(stop); wg.Wait() }()
	waitUntil(t, "both serving", nil, func() bool { return ok.Load() > 40 })

	two.agent(t, bin, "keys", "rotate")
	next := two.public(t, keystore.NextName("maskinporten"))
	nextKID, _ := keystore.Thumbprint(next)
	if err := sb.AddClientKey(clientID, sandbox.ClientKey{KID: nextKID, Public: next}); err != nil {
		t.Fatal(err)
	}
	two.agent(t, bin, "keys", "activate")
	if err := two.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "server two to switch keys", two, func() bool {
		return strings.Contains(two.logs.String(), "the Maskinporten signing key was switched")
	})
	if err := sb.RemoveClientKey(clientID, two.kid); err != nil {
		t.Fatal(err)
	}
	keys, _ := sb.ClientKeys(clientID)
	if len(keys) != 2 || keys[0].KID != one.kid || keys[1].KID != nextKID {
		t.Fatalf("client keys after the rotation: %+v", keys)
	}
	grants := sb.Stats().TokenRequests
	waitUntil(t, "fresh grants from both servers", nil, func() bool { return sb.Stats().TokenRequests >= grants+4 })
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), ok.Load()+failed.Load())
	}
	for _, s := range []*server{one, two} {
		select {
		case err := <-s.exited:
			t.Fatalf("server %s exited: %v", s.listen, err)
		default:
		}
	}
	t.Logf("%d requests on two servers, 0 failed", ok.Load())
}
