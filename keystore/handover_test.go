package keystore

import (
	"bytes"
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/systemuser-agent/systemuser-agent/internal/testlog"
)

// serveTest runs ServeHandover for backend on the hand-over transport (the Windows pipe on Windows, a
// Unix socket standing in for it elsewhere) and returns a Remote connected to it, and the server's
// debug log.
func serveTest(t testing.TB, backend Store) (*Remote, *testlog.Buffer) {
	t.Helper()
	ln, dial := listenHandoverTest(t)
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeHandover(ctx, ln, backend, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeHandover: %v", err)
		}
	})
	return NewRemote(backend.Backend(), dial), logs
}

func TestRemoteConformance(t *testing.T) {
	t.Run("memory behind the service", func(t *testing.T) {
		testStore(t, func(t *testing.T) Store { r, _ := serveTest(t, NewMemory()); return r })
	})
	t.Run("file behind the service", func(t *testing.T) {
		skipFileBackendOnWindows(t)
		testStore(t, func(t *testing.T) Store {
			f, err := Open(Options{Backend: BackendFile, Dir: t.TempDir(), AllowFile: true})
			if err != nil {
				t.Fatal(err)
			}
			r, _ := serveTest(t, f)
			return r
		})
	})
}

// TestHandoverKeepsKeyOutOfLogs hands a key over and signs with it, with the server logging at debug
// level: neither the log nor the client's errors may hold the key.
func TestHandoverKeepsKeyOutOfLogs(t *testing.T) {
	k := rsaTestKey(t, 2048)
	r, logs := serveTest(t, NewMemory())
	ctx := context.Background()
	if err := r.Put(ctx, "mp", k); err != nil {
		t.Fatal(err)
	}
	verifyRS256(t, mustSigner(t, r, "mp"), publicJWKOf(t, k))
	err := r.Put(ctx, "mp", k)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second Put: %v", err)
	}
	forms := secretForms(t, k)
	assertNoSecret(t, "client error", []byte(err.Error()), forms)
	out := logs.Bytes()
	if !bytes.Contains(out, []byte("op=put")) || !bytes.Contains(out, []byte("name=mp")) {
		t.Fatalf("server log does not record the hand-over:\n%s", out)
	}
	assertNoSecret(t, "server log", out, forms)
}

// lyingStore stores keys but hands back another key: the service must catch it before saying "ok".
type lyingStore struct {
	*Memory
	other crypto.Signer
}

func (l lyingStore) Signer(context.Context, string) (crypto.Signer, error) { return l.other, nil }

func TestHandoverVerifiesStoredKey(t *testing.T) {
	mem := NewMemory()
	r, _ := serveTest(t, lyingStore{Memory: mem, other: rsaTestKey(t, 3072)})
	err := r.Put(context.Background(), "mp", rsaTestKey(t, 2048))
	if err == nil || !strings.Contains(err.Error(), "does not read back") {
		t.Fatalf("Put into a store that returns another key: got %v", err)
	}
	if names, _ := mem.List(context.Background()); len(names) != 0 {
		t.Fatalf("the unverified key was kept: %v", names)
	}
}

func TestHandoverFrames(t *testing.T) {
	t.Run("round trip", func(t *testing.T) {
		var buf bytes.Buffer
		payload := []byte("0123456789abcdef0123456789abcdef")
		if err := writeFrame(&buf, handoverRequest{Op: opSign, Name: "mp"}, payload); err != nil {
			t.Fatal(err)
		}
		var got handoverRequest
		p, err := readFrame(&buf, &got)
		if err != nil {
			t.Fatal(err)
		}
		if got != (handoverRequest{Op: opSign, Name: "mp"}) || !bytes.Equal(p, payload) {
			t.Fatalf("got %+v %q", got, p)
		}
	})
	frame := func(magic string, version byte, header string, payloadLen uint32) []byte {
		var b bytes.Buffer
		b.WriteString(magic)
		b.WriteByte(version)
		_ = binary.Write(&b, binary.BigEndian, uint32(len(header)))
		b.WriteString(header)
		_ = binary.Write(&b, binary.BigEndian, payloadLen)
		return b.Bytes()
	}
	bad := []struct {
		name string
		in   []byte
		want string
	}{
		{"wrong magic", frame("HTTP", 1, `{}`, 0), "not a systemuser-agent"},
		{"other version", frame(handoverMagic, 2, `{}`, 0), "version 2"},
		{"huge header", frame(handoverMagic, 1, strings.Repeat(" ", maxHeader+1), 0), "exceeds"},
		{"huge payload", frame(handoverMagic, 1, `{}`, maxPayload+1), "exceeds"},
		{"unknown field", frame(handoverMagic, 1, `{"op":"list","key":"x"}`, 0), "bad header"},
		{"truncated payload", frame(handoverMagic, 1, `{}`, 10), "EOF"},
		{"empty", nil, "EOF"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			var h handoverRequest
			_, err := readFrame(bytes.NewReader(c.in), &h)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	if err := writeFrame(&bytes.Buffer{}, handoverRequest{}, make([]byte, maxPayload+1)); err == nil {
		t.Fatal("writeFrame sent an oversized payload")
	}
}

// TestHandoverServerRefuses covers requests a well-behaved CLI never sends.
func TestHandoverServerRefuses(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	cases := []struct {
		name    string
		req     handoverRequest
		payload []byte
		want    string
	}{
		{"unknown op", handoverRequest{Op: "export", Name: "mp"}, nil, "unknown hand-over operation"},
		{"bad name", handoverRequest{Op: opPut, Name: "../x"}, nil, "not allowed"},
		{"put garbage", handoverRequest{Op: opPut, Name: "mp"}, []byte("garbage"), "not PKCS#8"},
		{"sign wrong digest size", handoverRequest{Op: opSign, Name: "mp"}, []byte("short"), "SHA-256"},
		{"put EC", handoverRequest{Op: opPut, Name: "mp"}, pkcs8DER(t, ecKey(t)), "RSA"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := handle(ctx, s, c.req, c.payload)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestRemoteSignerRS256Only: a key held by the service signs only what Maskinporten grants need.
func TestRemoteSignerRS256Only(t *testing.T) {
	r, _ := serveTest(t, NewMemory())
	k, err := r.Generate(context.Background(), "mp", 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(nil, make([]byte, 48), crypto.SHA384); err == nil {
		t.Fatal("remote signer signed SHA-384")
	}
}

func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	_ = writeFrame(&seed, handoverRequest{Op: opPut, Name: "mp"}, []byte("payload"))
	f.Add(seed.Bytes())
	f.Add([]byte("SUAK\x01\x00\x00\x00\x02{}\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h handoverRequest
		p, err := readFrame(bytes.NewReader(data), &h)
		if err == nil && len(p) > maxPayload {
			t.Fatalf("payload of %d bytes accepted", len(p))
		}
	})
}
