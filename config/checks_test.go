package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestCheckOrgNumber(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want string // part of the error
	}{
		{"314250052", true, ""},             // the test organisation used throughout: 86 % 11 = 9, check 2
		{"974760673", true, ""},             // Brønnøysundregistrene
		{"310000000", true, ""},             // remainder 0 gives check digit 0
		{"310000001", false, "should be 0"}, // the number in some examples is not valid
		{"314250053", false, "should be 2"},
		{"000000060", false, "no number with these first eight digits"}, // remainder 1
		{"000000069", false, "no number with these first eight digits"},
		{"31425005", false, "exactly 9 digits"},
		{"3142500521", false, "exactly 9 digits"},
		{"31425005a", false, "exactly 9 digits"},
		{"314 250 052", false, "exactly 9 digits"},
		{"", false, "exactly 9 digits"},
		{"０１２３４５６７８", false, "exactly 9 digits"},
		{"0192:314250052", false, "0192: prefix"},
	}
	for _, tc := range cases {
		err := CheckOrgNumber(tc.in)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckOrgNumber(%q) = %v, want ok=%v containing %q", tc.in, err, tc.ok, tc.want)
		}
	}
}

// TestOrgNumberOneCheckDigit: for any eight digits exactly one ninth digit is valid, or none when the
// weighted sum leaves remainder 1.
func TestOrgNumberOneCheckDigit(t *testing.T) {
	for i := range 3000 {
		prefix := fmt.Sprintf("%08d", (i*7919+12345)%100000000)
		valid := 0
		for d := range 10 {
			if CheckOrgNumber(fmt.Sprintf("%s%d", prefix, d)) == nil {
				valid++
			}
		}
		sum := 0
		for j, w := range []int{3, 2, 7, 6, 5, 4, 3, 2} {
			sum += int(prefix[j]-'0') * w
		}
		want := 1
		if sum%11 == 1 {
			want = 0
		}
		if valid != want {
			t.Fatalf("prefix %s: %d valid check digits, want %d", prefix, valid, want)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	cases := []struct {
		addr string
		want string // "" = accepted; else part of the error
	}{
		{"127.0.0.1:7070", ""},
		{"127.0.0.2:80", ""},
		{"127.255.255.254:65535", ""},
		{"[::1]:7070", ""},
		{"0.0.0.0:7070", "every network interface"},
		{"[::]:7070", "every network interface"},
		{":7070", "every network interface"},
		{"localhost:7070", "names a host"},
		{"agent.example:7070", "names a host"},
		{"192.168.1.2:7070", "not a loopback address"},
		{"10.0.0.1:7070", "not a loopback address"},
		{"[fe80::1]:7070", "not a loopback address"},
		{"[fe80::1%eth0]:7070", "IPv6 zone"},
		{"[::ffff:127.0.0.1]:7070", "IPv4-mapped"},
		{"127.0.0.1", "has no port"},
		{"::1", "has no port"},
		{"127.0.0.1:0", "1 to 65535"},
		{"127.0.0.1:65536", "1 to 65535"},
		{"127.0.0.1:http", "1 to 65535"},
		{"127.0.0.1:-1", "1 to 65535"},
		{"127.0.0.1:07070", "1 to 65535"},
		{"127.000.000.001:7070", "names a host"},
		{"", "not an address with a port"},
	}
	for _, tc := range cases {
		err := CheckLoopback(tc.addr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckLoopback(%q) = %v, want ok", tc.addr, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("CheckLoopback(%q) = %v, want error containing %q", tc.addr, err, tc.want)
		}
	}
	// Refusals say why, so the operator does not look for a way around.
	if err := CheckLoopback("0.0.0.0:7070"); !strings.Contains(err.Error(), "whole organisation") {
		t.Errorf("no reason given: %v", err)
	}
}

func TestCheckEndpointURL(t *testing.T) {
	cases := []struct {
		url  string
		want string
	}{
		{"https://test.maskinporten.no/token", ""},
		{"https://platform.tt02.altinn.no", ""},
		{"https://h.example:8443/a/b/", ""},
		{"http://127.0.0.1:4000/", ""},
		{"http://127.9.9.9/", ""},
		{"http://[::1]:4000/token", ""},
		{"http://localhost:4000", ""},
		{"http://LOCALHOST:4000", ""},
		{"http://maskinporten.no/token", "use https"},
		{"http://192.168.0.10/", "use https"},
		{"http://localhost.example/", "use https"},
		{"http://[fe80::1%25eth0]/", "use https"},
		{"ftp://h.example/", "https://"},
		{"https://user:pw@h.example/", "user name or password"},
		{"https://user@h.example/", "user name or password"},
		{"https://h.example/?a=1", "query"},
		{"https://h.example/?", "query"},
		{"https://h.example/#f", "fragment"},
		{"https://h.example/#", "fragment"},
		{"//h.example/", "https://"},
		{"https:/path", "absolute URL"},
		{"https:opaque", "absolute URL"},
		{"h.example", "absolute URL"},
		{"https://h.example/a b", "whitespace"},
		{"https://h ex/", "whitespace"},
		{"https://[::1/", "not a URL"},
	}
	for _, tc := range cases {
		err := checkEndpointURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("checkEndpointURL(%q) = %v, want ok", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("checkEndpointURL(%q) = %v, want error containing %q", tc.url, err, tc.want)
		}
	}
}
