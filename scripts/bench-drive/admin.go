package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sandboxStats is GET /sandbox/stats of "agent sandbox --admin".
type sandboxStats struct {
	TokenRequests  int64            `json:"token_requests"`
	TokensIssued   int64            `json:"tokens_issued"`
	FaultsInjected int64            `json:"faults_injected"`
	Errors         map[string]int64 `json:"errors"`
	TokensByKey    []struct {
		Scopes string `json:"scopes"`
		Count  int64  `json:"count"`
	} `json:"tokens_by_key"`
}

// admin talks to the sandbox drill API.
type admin struct {
	base string // …/sandbox
	hc   *http.Client
}

func newAdmin(base string) *admin {
	return &admin{base: base, hc: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}}
}

func (a *admin) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sandbox drill API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("sandbox drill API %s %s: %s %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

func (a *admin) stats(ctx context.Context) (sandboxStats, error) {
	var st sandboxStats
	b, err := a.do(ctx, http.MethodGet, "/stats", nil)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st, err
}

func (a *admin) resetStats(ctx context.Context) error {
	_, err := a.do(ctx, http.MethodPost, "/stats/reset", nil)
	return err
}

// fault is the body of POST /sandbox/faults.
type fault struct {
	Target     string `json:"target,omitempty"`
	Status     int    `json:"status,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
	Delay      string `json:"delay,omitempty"`
	Reset      bool   `json:"reset,omitempty"`
	Times      int    `json:"times,omitempty"`
}

func (a *admin) inject(ctx context.Context, f fault) error {
	_, err := a.do(ctx, http.MethodPost, "/faults", f)
	return err
}

func (a *admin) clear(ctx context.Context) error {
	_, err := a.do(ctx, http.MethodDelete, "/faults", nil)
	return err
}

// grants maps scopes to issued tokens.
func (st sandboxStats) grants() map[string]int64 {
	m := map[string]int64{}
	for _, k := range st.TokensByKey {
		m[k.Scopes] += k.Count
	}
	return m
}

// agentMetrics reads the agent's /metrics into a map from series ("name" or "name{labels}") to value.
func agentMetrics(ctx context.Context, agentURL string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agentURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m, sc.Err()
}

// cacheCounts are the agent's token cache counters and its token-source histogram at one moment.
type cacheCounts struct {
	misses, hits, fetches float64
	slow, served          float64 // token requests whose source took longer than the bucket bound; all
}

// readCache scrapes the counters. slowLE is a bucket bound of systemuser_agent_token_source_seconds
// ("0.001", "0.25"): a cache hit takes microseconds, a caller that waited for a fetch takes its
// milliseconds.
func readCache(ctx context.Context, agentURL, slowLE string) (cacheCounts, error) {
	m, err := agentMetrics(ctx, agentURL)
	if err != nil {
		return cacheCounts{}, err
	}
	under, ok1 := m[`systemuser_agent_token_source_seconds_bucket{le="`+slowLE+`"}`]
	total, ok2 := m["systemuser_agent_token_source_seconds_count"]
	misses, ok3 := m["systemuser_agent_token_cache_misses_total"]
	if !ok1 || !ok2 || !ok3 {
		return cacheCounts{}, fmt.Errorf("the agent's /metrics lacks the token source histogram (le=%s) or the token cache counters", slowLE)
	}
	return cacheCounts{misses: misses, hits: m["systemuser_agent_token_cache_hits_total"],
		fetches: m["systemuser_agent_token_cache_fetches_total"], slow: total - under, served: total}, nil
}
