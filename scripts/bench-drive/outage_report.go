package main

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// report prints what one kind of the drill showed. t0 is when the failure began, tc when it was cleared.
func (d *drill) report(out io.Writer, k drillKind, results []result, st sandboxStats, t0, tc time.Time) {
	rel := func(t time.Time) string { return fmt.Sprintf("%.1f s", t.Sub(t0).Seconds()) }
	var (
		served, n503, noRA, other, noReply, expired int
		lastOK, first503, resumedAt                 time.Time
		cachedExp                                   time.Time
		slowest                                     time.Duration
		firstOther                                  string
	)
	for _, r := range results {
		got := r.sent.Add(r.latency)
		if got.Before(t0) {
			continue
		}
		if r.sent.Before(tc) {
			slowest = max(slowest, r.latency)
		}
		err := r.valid(got)
		switch {
		case r.err != nil:
			noReply++
			if firstOther == "" {
				firstOther = r.err.Error()
			}
		case err == nil && issuedAfter(r.token, tc): // a token minted after the upstream came back
			if resumedAt.IsZero() || got.Before(resumedAt) {
				resumedAt = got
			}
		case err == nil: // the cached token
			served++
			if got.After(lastOK) {
				lastOK = got
			}
			if exp, _ := jwtExp(r.token); exp.After(cachedExp) {
				cachedExp = exp
			}
		case r.status == http.StatusOK: // a 200 whose token is expired or malformed
			expired++
			if firstOther == "" {
				firstOther = err.Error()
			}
		case r.status == http.StatusServiceUnavailable && !got.Before(tc):
			// answered after the upstream came back, before a new token was there: resumption shows it
		case r.status == http.StatusServiceUnavailable:
			n503++
			if r.retryAfter == "" {
				noRA++
			}
			if first503.IsZero() || got.Before(first503) {
				first503 = got
			}
		default:
			other++
			if firstOther == "" {
				firstOther = fmt.Sprintf("status %d %s", r.status, r.errCode)
			}
		}
	}
	cutoff := cachedExp.Add(-d.minValidity)
	window := tc.Sub(t0)
	fmt.Fprintf(out, "  %s: failing from 0 s to %s\n", k.name, rel(tc))
	if served > 0 {
		fmt.Fprintf(out, "    cached token served, valid, until %s: %d replies; it expires at %s (min validity cut-off %s)\n",
			rel(lastOK), served, rel(cachedExp), rel(cutoff))
	} else {
		fmt.Fprintf(out, "    no cached token was served during the failure\n")
	}
	if n503 > 0 {
		fmt.Fprintf(out, "    then 503: %d replies (%d without Retry-After), the first at %s\n", n503, noRA, rel(first503))
	}
	fmt.Fprintf(out, "    other replies: %d; no reply in time: %d; expired tokens served: %d", other, noReply, expired)
	if firstOther != "" {
		fmt.Fprintf(out, " (first: %s)", firstOther)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "    slowest reply during the failure: %s (request timeout %s)\n", ms(slowest), d.requestTimeout)
	limit := k.bound(window, len(d.c.ids))
	fmt.Fprintf(out, "    upstream token requests during the failure, %d cache keys: %d (%.1f/s, %.0f per key per minute; bound %d)\n",
		len(d.c.ids), st.TokenRequests, float64(st.TokenRequests)/window.Seconds(),
		float64(st.TokenRequests)/float64(len(d.c.ids))/window.Minutes(), limit)
	resumed := !resumedAt.IsZero()
	if resumed {
		fmt.Fprintf(out, "    served again %s after the upstream came back\n", ms(resumedAt.Sub(tc)))
	} else {
		fmt.Fprintf(out, "    not served again within 30 s after the upstream came back\n")
	}
	// Cached tokens are served while they have min validity left (give 1.5 s for exp's whole seconds and
	// the time a reply takes), and never after expiry; then 503, each with Retry-After.
	cachedOK := served > 0 && expired == 0 && (first503.IsZero() || !first503.Before(cutoff.Add(-1500*time.Millisecond))) &&
		!lastOK.After(cachedExp) && n503 > 0 && noRA == 0
	fmt.Fprintf(out, "    cached tokens while they last, then 503 with Retry-After: %s\n", verdict(cachedOK))
	fmt.Fprintf(out, "    never a hang beyond the request timeout: %s\n", verdict(noReply == 0 && slowest <= d.requestTimeout))
	fmt.Fprintf(out, "    upstream request rate bounded by the backoff: %s\n", verdict(st.TokenRequests <= limit))
	// Resumption within 2 s; after a 429 the agent honours the upstream's Retry-After, which may be longer.
	allowed, why := 2*time.Second, ""
	if k.retryAfter > allowed {
		allowed, why = k.retryAfter, fmt.Sprintf(" (%s allowed: the 429's Retry-After, which the agent honours)", k.retryAfter)
	}
	fmt.Fprintf(out, "    resumed within 2 s of the upstream coming back%s: %s\n", why,
		verdict(resumed && resumedAt.Sub(tc) <= allowed))
}
