package tokens_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/sandbox"
	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// TestSetSignerUnderLoad: callers fetch uncached tokens (a fresh signed grant each) without pause while
// the key is switched from A to B; then A is removed from the client. No call fails, none waits on the
// switch, and after A is gone every grant is signed with B. A cached token fetched with A stays valid.
func TestSetSignerUnderLoad(t *testing.T) {
	keyA, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := sandbox.New(sandbox.Options{})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.RegisterClient(sandbox.Client{ID: sbClient, Org: sbOrg, Scopes: []string{sbScope},
		Keys: []sandbox.ClientKey{{KID: "A", Public: &keyA.PublicKey}}}); err != nil {
		t.Fatal(err)
	}
	client, err := tokens.NewClient(tokens.ClientOptions{Issuer: s.MaskinportenIssuer(), TokenURL: s.MaskinportenTokenURL(),
		ClientID: sbClient, KeyID: "A", Signer: keyA})
	if err != nil {
		t.Fatal(err)
	}
	cache := tokens.NewCache(client, tokens.CacheOptions{})
	ctx := context.Background()
	req := tokens.Request{Scopes: []string{sbScope}}
	cachedA, err := cache.Token(ctx, req)
	if err != nil {
		t.Fatal(err)
	}

	var ok, failed atomic.Int64
	var afterSwitch [4]atomic.Int64
	var switched atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range afterSwitch {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				was := switched.Load()
				if _, err := client.Token(ctx, req); err != nil {
					failed.Add(1)
					t.Errorf("caller %d: %v", i, err)
				} else {
					ok.Add(1)
					if was {
						afterSwitch[i].Add(1)
					}
				}
			}
		})
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("load before the switch", func() bool { return ok.Load() >= 20 })
	// Rotation: B is registered first (upload {A, B}), then the running client switches.
	if err := s.AddClientKey(sbClient, sandbox.ClientKey{KID: "B", Public: &keyB.PublicKey}); err != nil {
		t.Fatal(err)
	}
	if err := client.SetSigner(keyB, "B"); err != nil {
		t.Fatal(err)
	}
	switched.Store(true)
	if client.KeyID() != "B" {
		t.Fatalf("KeyID = %q", client.KeyID())
	}
	// Every caller has finished a call that started after the switch: no grant signed with A is in flight.
	waitFor("a post-switch call per caller", func() bool {
		for i := range afterSwitch {
			if afterSwitch[i].Load() < 2 {
				return false
			}
		}
		return true
	})
	if err := s.RemoveClientKey(sbClient, "A"); err != nil {
		t.Fatal(err)
	}
	n := ok.Load()
	waitFor("load after A was removed", func() bool { return ok.Load() >= n+20 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed during the rotation", failed.Load(), ok.Load()+failed.Load())
	}
	t.Logf("%d calls, 0 failed", ok.Load())
	// The token fetched with A is still served from the cache and still verifies.
	again, err := cache.Token(ctx, req)
	if err != nil || again.AccessToken != cachedA.AccessToken {
		t.Fatalf("cache entry after rotation: %v (same token: %v)", err, again.AccessToken == cachedA.AccessToken)
	}
	if _, err := s.VerifyAccessToken(again.AccessToken); err != nil {
		t.Fatalf("token fetched with A no longer verifies: %v", err)
	}
	// A bad key is refused and the current one stays.
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if err := client.SetSigner(small, "C"); err == nil || client.KeyID() != "B" {
		t.Fatalf("1024-bit key: %v, kid %s", err, client.KeyID())
	}
}
