package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// cmdStampede sends N callers at once to an agent whose cache is empty, spread over the given caller
// ids (one cache key each). The sandbox holds the first grant of each key for --hold, so every caller
// arrives while the fetch is still running. Exactly one grant per key may reach the sandbox.
func cmdStampede(ctx context.Context, args []string, out io.Writer) error {
	var c common
	fs := flag.NewFlagSet("stampede", flag.ContinueOnError)
	c.bind(fs)
	n := fs.Int("callers", 1000, "concurrent callers")
	hold := fs.Duration("hold", time.Second, "how long the sandbox holds each key's first grant")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.load(); err != nil {
		return err
	}
	if c.admin == "" {
		return errors.New("--admin is required: the grants are counted at the sandbox")
	}
	adm := newAdmin(c.admin)
	if err := adm.resetStats(ctx); err != nil {
		return err
	}
	before, err := readCache(ctx, c.agent, "0.25")
	if err != nil {
		return err
	}
	if err := adm.inject(ctx, fault{Delay: hold.String(), Times: len(c.ids)}); err != nil {
		return err
	}
	defer func() { _ = adm.clear(context.WithoutCancel(ctx)) }()

	// Each caller is its own process asking once: one connection each, closed after the reply. (Callers
	// that kept 1000 idle keep-alive connections would hold the agent's 256 connection slots, and the
	// rest would wait in the listen backlog until the agent's idle timeout.)
	cl := newCallerClient(c.agent, c.secret, *n)
	cl.hc.Transport.(*http.Transport).DisableKeepAlives = true
	// At its connection limit the agent closes connections that have not reached a handler (D8): such a
	// caller sees its connection closed without a reply and asks again, as a client of a shedding server
	// does, backing off from 50 ms to 1 s within its 30 s; the retries are counted and printed.
	results := make([]result, *n)
	var shed atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range *n {
		wg.Go(func() {
			<-start
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			pause := 50 * time.Millisecond
			for {
				results[i] = cl.token(rctx, c.ids[i%len(c.ids)])
				if !closedUnanswered(results[i]) || rctx.Err() != nil {
					break
				}
				shed.Add(1)
				select { // back off, as a client of a shedding server should, within the 30 s budget
				case <-time.After(pause):
				case <-rctx.Done():
				}
				pause = min(2*pause, time.Second)
			}
		})
	}
	close(start)
	wg.Wait()

	now := time.Now()
	tokensBy := map[string]map[string]bool{}
	var bad []string
	var lat latencies
	for _, r := range results {
		lat = append(lat, r.latency)
		if err := r.valid(now); err != nil {
			bad = append(bad, r.caller+": "+err.Error())
			continue
		}
		if tokensBy[r.caller] == nil {
			tokensBy[r.caller] = map[string]bool{}
		}
		tokensBy[r.caller][r.token] = true
	}
	st, err := adm.stats(ctx)
	if err != nil {
		return err
	}
	after, err := readCache(ctx, c.agent, "0.25")
	if err != nil {
		return err
	}
	grants := st.grants()
	oneEach := len(grants) == len(c.ids) && st.TokenRequests == int64(len(c.ids)) && len(bad) == 0
	var per []string
	for s, k := range grants {
		per = append(per, fmt.Sprintf("%q=%d", s, k))
		oneEach = oneEach && k == 1
	}
	sort.Strings(per)
	var distinct []string
	for _, id := range c.ids {
		distinct = append(distinct, fmt.Sprintf("%s=%d", id, len(tokensBy[id])))
	}
	fmt.Fprintf(out, "stampede: %d concurrent callers, %d cache keys, empty cache; the sandbox holds each key's first grant %s\n",
		*n, len(c.ids), hold)
	fmt.Fprintf(out, "  replies: %d valid tokens, %d failures; distinct tokens per key: %s\n", *n-len(bad), len(bad),
		strings.Join(distinct, " "))
	if len(bad) > 0 {
		fmt.Fprintf(out, "  first failure: %s\n", bad[0])
	}
	fmt.Fprintf(out, "  connections the agent closed unanswered at its connection limit (D8), asked again: %d\n", shed.Load())
	fmt.Fprintf(out, "  upstream grants per key (sandbox): %s; token requests: %d\n", strings.Join(per, ", "), st.TokenRequests)
	fmt.Fprintf(out, "  callers that waited on the shared fetch (agent /metrics: cache misses %.0f, token source > 0.25 s %.0f); the rest were answered from the cache: %.0f hits\n",
		after.misses-before.misses, after.slow-before.slow, after.hits-before.hits)
	fmt.Fprintf(out, "  caller latency: p50 %s  p99 %s  max %s\n", ms(lat.pct(50)), ms(lat.pct(99)), ms(lat.max()))
	fmt.Fprintf(out, "  exactly one upstream grant per cache key: %s\n", verdict(oneEach))
	return nil
}

// closedUnanswered reports whether r failed before any reply came: the connection was closed or reset
// (net/http says "EOF", "connection reset" or "server closed idle connection").
func closedUnanswered(r result) bool {
	return r.status == 0 && r.err != nil && (errors.Is(r.err, io.EOF) || errors.Is(r.err, io.ErrUnexpectedEOF) ||
		errors.Is(r.err, syscall.ECONNRESET) || strings.Contains(r.err.Error(), "server closed idle connection"))
}
