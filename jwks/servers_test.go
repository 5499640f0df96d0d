package jwks

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// TestRotateOneServerOtherKeepsServing: two servers share one Maskinporten client, one key each (the
// "one client, one key per server" layout). Server A rotates: the upload is Merge(A's active + next, the
// other servers' keys), so B's key stays registered; A switches its running client to the new key; the
// old key is removed by a second upload built the same way. B fetches tokens without pause throughout
// and none fails; A's callers do not fail either.
func TestRotateOneServerOtherKeepsServing(t *testing.T) {
	admin, sb, clk := env(t, ScopeRead, ScopeWrite)
	k := testKeys()
	ctx := context.Background()
	must(t, sb.RemoveClientKey("svc", "k0"))
	own := func(i int, kid string) Key { return key(t, i, kid) }
	// Initial set: A's key a1 (index 1) and B's key b1 (index 2).
	set, err := Merge([]Key{own(1, "a1")}, []Key{own(2, "b1")})
	must(t, err)
	if _, err := admin.Replace(ctx, "svc", set); err != nil {
		t.Fatal(err)
	}
	newServer := func(i int, kid string) *tokens.Client {
		c, err := tokens.NewClient(tokens.ClientOptions{Issuer: sb.MaskinportenIssuer(), TokenURL: sb.MaskinportenTokenURL(),
			ClientID: "svc", KeyID: kid, Signer: k[i], Now: clk.Now})
		must(t, err)
		return c
	}
	a, b := newServer(1, "a1"), newServer(2, "b1")
	req := tokens.Request{Scopes: []string{"altinn:x"}}
	var okA, okB, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	load := func(c *tokens.Client, ok *atomic.Int64) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Token(ctx, req); err != nil {
				failed.Add(1)
				t.Errorf("token: %v", err)
			} else {
				ok.Add(1)
			}
		}
	}
	wg.Go(func() { load(a, &okA) })
	wg.Go(func() { load(b, &okB) })
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("both servers serving", func() bool { return okA.Load() > 10 && okB.Load() > 10 })
	// A rotates: upload {a1, a2} + the other servers' keys.
	others := []Key{own(2, "b1")}
	set, err = Merge([]Key{own(1, "a1"), own(3, "a2")}, others)
	must(t, err)
	got, err := admin.Replace(ctx, "svc", set)
	must(t, err)
	if len(got.Keys) != 3 {
		t.Fatalf("upload during rotation: %+v", got.Keys)
	}
	must(t, a.SetSigner(k[3], "a2"))
	n := okA.Load()
	waitFor("A signing with a2", func() bool { return okA.Load() > n+10 })
	// A retires a1: upload {a2} + others.
	set, err = Merge([]Key{own(3, "a2")}, others)
	must(t, err)
	got, err = admin.Replace(ctx, "svc", set)
	must(t, err)
	if len(got.Keys) != 2 || got.Keys[0].Kid != "a2" || got.Keys[1].Kid != "b1" {
		t.Fatalf("after retiring a1: %+v", got.Keys)
	}
	nA, nB := okA.Load(), okB.Load()
	waitFor("both serving after the rotation", func() bool { return okA.Load() > nA+10 && okB.Load() > nB+10 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	t.Logf("server A %d tokens, server B %d tokens, 0 failed", okA.Load(), okB.Load())
}
