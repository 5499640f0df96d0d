package tokens

import (
	"encoding/binary"
	"slices"
)

// appendKey appends the cache key of r to b: kind, org, externalRef, resource and the sorted,
// de-duplicated scopes, each length-prefixed so that no two different requests share a key. "No
// externalRef" and "externalRef = org" differ. The issuer and client id are fixed per Cache (one Source).
// It allocates nothing when b has room and r has at most 16 scopes.
func appendKey(b []byte, r Request) []byte {
	kind := r.Kind
	if kind == "" {
		kind = KindMaskinporten
	}
	b = appendField(b, string(kind))
	b = appendField(b, r.Org)
	b = appendField(b, r.ExternalRef)
	b = appendField(b, r.Resource)
	if strictlySorted(r.Scopes) {
		for _, s := range r.Scopes {
			b = appendField(b, s)
		}
		return b
	}
	var arr [16]string
	var s []string
	if len(r.Scopes) <= len(arr) {
		s = arr[:len(r.Scopes)]
		copy(s, r.Scopes)
		insertionSort(s)
	} else {
		s = slices.Clone(r.Scopes)
		slices.Sort(s)
	}
	for i, x := range s {
		if i > 0 && x == s[i-1] {
			continue
		}
		b = appendField(b, x)
	}
	return b
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// strictlySorted reports whether s is sorted with no duplicates (already normalised).
func strictlySorted(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// insertionSort sorts a short slice in place without allocating.
func insertionSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
