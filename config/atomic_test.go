package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// onlyFiles asserts that dir holds exactly the named entries (no temporary files left behind).
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"one", 0o600}, {"two, longer than one", 0o644}, {"3", 0o640}} {
		if err := WriteFileAtomic(p, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != tc.data {
			t.Fatalf("read back %q, %v; want %q", got, err, tc.data)
		}
		if runtime.GOOS != "windows" {
			fi, _ := os.Stat(p)
			if fi.Mode().Perm() != tc.perm {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.perm)
			}
		}
		onlyFiles(t, dir, "f.json")
	}
}

func TestWriteFileAtomicFailures(t *testing.T) {
	dir := t.TempDir()
	// The target is a non-empty directory: the rename fails after the temp file was written.
	target := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(target, []byte("data"), 0o600); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	onlyFiles(t, dir, "busy")
	// The directory does not exist: the error names the file and what to check.
	err := WriteFileAtomic(filepath.Join(dir, "missing", "f"), []byte("data"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing directory: %v", err)
	}
}

// TestWriteFileAtomicConcurrentReaders: a reader (readBounded, as Load and LoadState read) never sees a
// mix of the old and the new content, and on Windows neither side fails while the other holds the file.
func TestWriteFileAtomicConcurrentReaders(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	a, b := bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 300<<10)
	if err := WriteFileAtomic(p, a, 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 100 {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err := WriteFileAtomic(p, data, 0o600); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 300 {
		time.Sleep(time.Millisecond) // a reader that never lets go would starve a Windows writer forever
		got, err := readBounded(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
			t.Fatalf("read a torn file of %d bytes", len(got))
		}
	}
	wg.Wait()
}

// TestWriteFileAtomicKilled kills a process that keeps rewriting a file at an arbitrary moment: the file
// is whole afterwards, old or new.
func TestWriteFileAtomicKilled(t *testing.T) {
	if p := os.Getenv("CONFIG_TEST_WRITER"); p != "" {
		for i := 0; ; i++ {
			if err := WriteFileAtomic(p, payload(i%2), 0o600); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			fmt.Println("wrote", i)
		}
	}
	if runtime.GOOS == "windows" {
		t.Skip("uses a Unix kill")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFileAtomicKilled$")
		cmd.Env = append(os.Environ(), "CONFIG_TEST_WRITER="+p)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for range 3 + round*7 { // kill after a varying number of completed writes
			if !sc.Scan() || !strings.HasPrefix(sc.Text(), "wrote") {
				t.Fatalf("writer: %q", sc.Text())
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload(0)) && !bytes.Equal(got, payload(1)) {
			t.Fatalf("round %d: torn file of %d bytes after kill", round, len(got))
		}
	}
}

func payload(i int) []byte {
	return bytes.Repeat([]byte{byte('x' + i)}, 64<<10+i*1000)
}
