package tokens

import (
	"context"
	"testing"
	"time"
)

// benchCache is a warm cache whose token stays fresh for the whole benchmark.
func benchCache(b *testing.B) *Cache {
	src := newMemSource()
	src.lifetime = time.Hour
	c := NewCache(src, CacheOptions{})
	if _, err := c.Token(context.Background(), sysReq); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkCacheHit is the hot path of the agent's token endpoint under parallel callers.
func BenchmarkCacheHit(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Token(ctx, sysReq); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if s := c.Stats(); s.Fetches != 1 {
		b.Fatalf("%d fetches during a hit benchmark", s.Fetches)
	}
}

// BenchmarkCacheHitSerial is the same hot path from one goroutine.
func BenchmarkCacheHitSerial(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Token(ctx, sysReq); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHitUnsortedScopes is a hit whose scopes need sorting for the key.
func BenchmarkCacheHitUnsortedScopes(b *testing.B) {
	c := benchCache(b)
	r := Request{Scopes: []string{"skatteetaten:x", "altinn:y", "altinn:x"}, Org: "310000001", ExternalRef: "payroll"}
	ctx := context.Background()
	if _, err := c.Token(ctx, r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Token(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
