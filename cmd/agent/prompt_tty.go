package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// terminalFd returns the file descriptor of f when it is a terminal, else -1.
func terminalFd(f any) int {
	file, ok := f.(*os.File)
	if !ok {
		return -1
	}
	fd := int(file.Fd())
	if !term.IsTerminal(fd) {
		return -1
	}
	return fd
}

// lineReader reads answers one line at a time, on request, so a pending read never steals input from
// the next one and a cancelled context (Ctrl-C) ends the wait at once. Secret lines are read without
// echo when the input is a terminal.
type lineReader struct {
	reqs chan lineReq
	fd   int // terminal fd of the input, or -1
	once sync.Once
}

type lineReq struct {
	secret bool
	reply  chan lineResult
}

type lineResult struct {
	line string
	err  error
}

// newLineReader starts the reader on r; fd is r's terminal fd or -1. Call close when done.
func newLineReader(r io.Reader, fd int) *lineReader {
	l := &lineReader{reqs: make(chan lineReq), fd: fd}
	br := bufio.NewReader(r)
	go func() {
		for req := range l.reqs {
			var res lineResult
			if req.secret && fd >= 0 {
				b, err := term.ReadPassword(fd)
				res = lineResult{line: string(b), err: err}
			} else {
				res.line, res.err = br.ReadString('\n')
				if res.err == io.EOF && res.line != "" {
					res.err = nil // a last line without newline still counts
				}
			}
			req.reply <- res
		}
	}()
	return l
}

// read returns the next line. On ctx's end it returns ctx.Err() at once, restoring the terminal if a
// secret was being read.
func (l *lineReader) read(ctx context.Context, secret bool) (string, error) {
	var saved *term.State
	if secret && l.fd >= 0 {
		saved, _ = term.GetState(l.fd)
	}
	req := lineReq{secret: secret, reply: make(chan lineResult, 1)}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case res := <-req.reply:
		return res.line, res.err
	case <-ctx.Done():
		if saved != nil {
			_ = term.Restore(l.fd, saved)
		}
		return "", ctx.Err()
	}
}

// close stops the reader once its current read (if any) returns.
func (l *lineReader) close() { l.once.Do(func() { close(l.reqs) }) }
