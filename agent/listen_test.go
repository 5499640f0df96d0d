package agent

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestD1ListenLiteralLoopback(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "localhost:0", "192.168.1.1:0", "10.0.0.1:7070",
		"example.com:7070", "[::ffff:127.0.0.1]:0", "[fe80::1%lo]:0", "127.0.0.1", "127.0.0.1:http",
		"127.0.0.1:70000"} {
		ln, err := Listen(ctx, addr)
		if err == nil {
			_ = ln.Close()
			t.Errorf("Listen(%q) succeeded", addr)
			continue
		}
		if !strings.Contains(err.Error(), "listen address") {
			t.Errorf("Listen(%q): %v does not name the listen setting", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0", "[::1]:0"} {
		ln, err := Listen(ctx, addr)
		if err != nil {
			if strings.HasPrefix(addr, "[") {
				t.Logf("IPv6 loopback unavailable here: %v", err)
				continue
			}
			t.Fatalf("Listen(%q): %v", addr, err)
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("Listen(%q) bound %s", addr, ip)
		}
		_ = ln.Close()
	}
}

// TestD9PortTaken: a taken port is an error naming the port and how to find its owner; no other port.
func TestD9PortTaken(t *testing.T) {
	squatter, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	port := squatter.Addr().(*net.TCPAddr).Port
	ln, err := Listen(context.Background(), "127.0.0.1:"+strconv.Itoa(port))
	if err == nil {
		_ = ln.Close()
		t.Fatal("Listen on a taken port succeeded")
	}
	if ln != nil {
		t.Fatal("Listen returned a listener with its error (a fallback)")
	}
	msg := err.Error()
	for _, want := range []string{"port " + strconv.Itoa(port), "taken by another process", "never binds another port",
		"ss -ltnp 'sport = :" + strconv.Itoa(port) + "'", "netstat -abno"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
}
