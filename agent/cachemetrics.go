package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/systemuser-agent/systemuser-agent/tokens"
)

// cacheStatser is a token source that counts its cache's work (*tokens.Cache does).
type cacheStatser interface {
	Stats() tokens.CacheStats
}

// registerCacheMetrics exports the token cache's counters, read at each scrape: how many token requests
// were answered from the cache, how many had to wait for an upstream fetch (a miss), how many refreshes
// ran ahead of expiry in the background, and how many cached tokens were served after a failed refresh.
// A miss after warm-up means a caller waited on the upstream: refresh ahead should keep it at zero.
func registerCacheMetrics(reg prometheus.Registerer, c cacheStatser) error {
	counter := func(name, help string, v func(tokens.CacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "systemuser_agent_token_cache_" + name + "_total",
			Help: help}, func() float64 { return float64(v(c.Stats())) })
	}
	for _, col := range []prometheus.Collector{
		counter("hits", "Token requests answered from the cache.", func(s tokens.CacheStats) uint64 { return s.Hits }),
		counter("misses", "Token requests that waited for an upstream fetch (no usable cached token).",
			func(s tokens.CacheStats) uint64 { return s.Misses }),
		counter("refreshes", "Background refreshes started ahead of expiry.", func(s tokens.CacheStats) uint64 { return s.Refreshes }),
		counter("fetches", "Upstream fetches (Maskinporten tokens and Altinn exchanges).",
			func(s tokens.CacheStats) uint64 { return s.Fetches }),
		counter("fetch_errors", "Upstream fetches that failed.", func(s tokens.CacheStats) uint64 { return s.Errors }),
		counter("negative_hits", "Token requests answered with a cached error (configuration error, or a 429's Retry-After).",
			func(s tokens.CacheStats) uint64 { return s.NegativeHits }),
		counter("stale", "Cached tokens served after a failed refresh (still above the minimum validity).",
			func(s tokens.CacheStats) uint64 { return s.Stale }),
		counter("hedges", "Hedged attempts started for a fetch stuck on a slow or hung upstream.",
			func(s tokens.CacheStats) uint64 { return s.Hedges }),
		counter("paced", "Token requests answered with a key's last error during its failure backoff (no upstream call).",
			func(s tokens.CacheStats) uint64 { return s.Paced }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "systemuser_agent_token_cache_entries",
			Help: "Cache keys held."}, func() float64 { return float64(c.Stats().Entries) }),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
