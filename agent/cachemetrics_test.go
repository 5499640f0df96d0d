package agent

import (
	"net/http"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// TestCacheMetrics: with a tokens.Cache as the source, /metrics counts its hits, misses and fetches, so
// an operator (and scripts/bench) can see whether any caller waited for an upstream fetch.
func TestCacheMetrics(t *testing.T) {
	a := startAgent(t, func(o *Options) { o.Tokens = tokens.NewCache(o.Tokens, tokens.CacheOptions{Now: o.Now}) })
	for range 3 {
		if r := a.tokenFor(t, idA, secretA, nil); r.status != http.StatusOK {
			t.Fatalf("token: %s", r)
		}
	}
	m := a.do(t, req{method: http.MethodGet, path: "/metrics"})
	if m.status != http.StatusOK {
		t.Fatalf("/metrics: %d", m.status)
	}
	for _, want := range []string{
		"systemuser_agent_token_cache_misses_total 1\n",
		"systemuser_agent_token_cache_hits_total 2\n",
		"systemuser_agent_token_cache_fetches_total 1\n",
		"systemuser_agent_token_cache_refreshes_total 0\n",
		"systemuser_agent_token_cache_entries 1\n",
		"systemuser_agent_token_cache_hedges_total 0\n",
		"systemuser_agent_token_cache_paced_total 0\n",
	} {
		if !strings.Contains(m.raw, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	if a.src.count() != 1 {
		t.Errorf("%d upstream calls for three requests, want 1", a.src.count())
	}
}

// TestNoCacheMetricsWithoutCache: a source that is not a cache exports no cache series.
func TestNoCacheMetricsWithoutCache(t *testing.T) {
	a := startAgent(t, nil)
	if m := a.do(t, req{method: http.MethodGet, path: "/metrics"}); strings.Contains(m.raw, "token_cache_") {
		t.Error("cache series without a cache")
	}
}
