package agent

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestD8Slowloris: a client dripping header bytes is cut after ReadHeader, long before its drip ends.
func TestD8Slowloris(t *testing.T) {
	a := startAgent(t, func(o *Options) { o.Timeouts.ReadHeader = 200 * time.Millisecond })
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", a.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c) // returns when the server closes the connection
		close(closed)
	}()
	if _, err := fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n", a.port); err != nil {
		t.Fatal(err)
	}
	// The drip would last 100 × 50 ms = 5 s, 25 times the header timeout; every byte is a valid header
	// byte, so only the header timeout can end it.
	const drip = "X-Slow: " + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	for i := range 100 {
		select {
		case <-closed:
			return
		default:
		}
		_, _ = c.Write([]byte{drip[i]})
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-closed:
	default:
		t.Fatal("the server kept a dripping connection open for the whole drip")
	}
}

// rawPost sends a POST with body written concurrently, and reads the response while still writing.
func rawPost(t *testing.T, port int, headers string, body io.Reader) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = fmt.Fprintf(c, "POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", port, headers)
		_, _ = io.Copy(c, body)
	})
	t.Cleanup(func() { _ = c.Close(); wg.Wait() })
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	return resp
}

func TestD8BodyLimit(t *testing.T) {
	a := startAgent(t, nil)
	const size = 2 << 20
	auth := "Authorization: Basic " + basic(idA, secretA) + "\r\nContent-Type: application/x-www-form-urlencoded\r\n"
	body := func() io.Reader {
		return io.MultiReader(strings.NewReader("grant_type=client_credentials&pad="),
			strings.NewReader(strings.Repeat("x", size)))
	}
	t.Run("content-length", func(t *testing.T) {
		resp := rawPost(t, a.port, auth+fmt.Sprintf("Content-Length: %d\r\n", size+34), body())
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d, want 413", resp.StatusCode)
		}
	})
	t.Run("chunked", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			cw := httpChunked(pw)
			_, _ = io.Copy(cw, body())
			_ = cw.Close()
			_ = pw.Close()
		}()
		resp := rawPost(t, a.port, auth+"Transfer-Encoding: chunked\r\n", pr)
		_ = pr.CloseWithError(io.ErrClosedPipe)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d, want 413", resp.StatusCode)
		}
	})
	if n := a.src.count(); n != 0 {
		t.Fatalf("token source called %d times", n)
	}
}

func TestD8HeaderLimit(t *testing.T) {
	a := startAgent(t, nil)
	r := a.do(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Big": strings.Repeat("a", 17<<10)}})
	if r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("17 KiB header: got %d, want 431", r.status)
	}
	if r := a.do(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Big": strings.Repeat("a", 10<<10)}}); r.status != 200 {
		t.Fatalf("10 KiB header: got %d, want 200", r.status)
	}
}

func TestD8MethodsAndRoutes(t *testing.T) {
	a := startAgent(t, nil)
	cases := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/oauth2/token", 405, "POST"},
		{"PUT", "/oauth2/token", 405, "POST"},
		{"OPTIONS", "/oauth2/token", 405, "POST"},
		{"GET", "/oauth2/introspect", 405, "POST"},
		{"POST", "/healthz", 405, "GET"},
		{"HEAD", "/readyz", 405, "GET"},
		{"GET", "/oauth2/token/", 404, ""},
		{"GET", "//oauth2/token", 404, ""},
	}
	for _, tc := range cases {
		r := a.do(t, req{method: tc.method, path: tc.path, user: idA, pass: secretA})
		if r.status != tc.status || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: got %d Allow=%q, want %d %q", tc.method, tc.path, r.status, r.header.Get("Allow"),
				tc.status, tc.allow)
		}
	}
	if n := a.src.count(); n != 0 {
		t.Fatalf("token source called %d times", n)
	}
}

// TestD16OptionsStar: "OPTIONS *" reaches the guard (not net/http's built-in 200) and gets the headers.
func TestD16OptionsStar(t *testing.T) {
	a := startAgent(t, nil)
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", a.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", a.port)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 200 || resp.Header.Get("Cache-Control") != "no-store" ||
		resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("OPTIONS *: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestD8WriteTimeout: a client that sends requests and never reads their replies is cut once a reply
// cannot be written within Timeouts.Write (armed per connection by the connection table, not net/http).
// Without the bound the agent would write every reply as the client reads them and keep the connection
// open afterwards; with it, the client finds fewer replies than requests and then the connection's end.
func TestD8WriteTimeout(t *testing.T) {
	const write = 500 * time.Millisecond
	a := startAgent(t, func(o *Options) { o.Timeouts.Write = write })
	a.src.set(func(f *fakeSource) { f.fixed = "eyJ." + strings.Repeat("x", 64<<10) + ".sig" }) // 64 KiB replies
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { // a small receive window, set before the handshake
			_ = setRcvBuf(fd, 4096)
		})
	}}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", a.port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 400 // 400 × 64 KiB = 25 MiB of replies: far more than the socket buffers hold
	one := fmt.Sprintf("POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Basic %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials",
		a.port, basic(idA, secretA))
	go func() { _, _ = io.WriteString(c, strings.Repeat(one, n)) }() // may block: the server stops reading
	// Generous: the bound is 1.1 × write after the stuck reply's request began.
	time.Sleep(12 * write)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	got := 0
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("read %d of %d replies, then the connection stayed open: no write bound", got, n)
			}
			break // the connection's end (EOF, reset or a reply cut short)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			break
		}
		got++
	}
	if got >= n {
		t.Fatalf("all %d replies were written to a client that read none for %v", n, 12*write)
	}
	t.Logf("the connection was cut after %d of %d replies", got, n)
}
