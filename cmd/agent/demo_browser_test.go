package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/systemuser-agent/systemuser-agent/internal/realdeps"
)

// TestDemoApprovedInBrowser: the demo waits for approval; headless Chromium opens the confirm URL it
// printed, clicks Approve on the sandbox's approval page, and the waiting command finishes with a token.
func TestDemoApprovedInBrowser(t *testing.T) {
	chromium := realdeps.Tool(t, "chromium", "apt-get install chromium")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"demo", "--once", "--approve=browser"}, &env{stdin: new(bytes.Buffer), stdout: pw, stderr: &stderr})
		_ = pw.Close()
		done <- code
	}()

	confirm := regexp.MustCompile(`http://127\.0\.0\.1:\d+/am/accessmanagement/ui/systemuser/request\?id=[0-9a-f-]+&DONTCHOOSEREPORTEE=true`)
	var out strings.Builder
	sc := bufio.NewScanner(pr)
	url := ""
	for url == "" && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		url = confirm.FindString(sc.Text())
	}
	if url == "" {
		t.Fatalf("the demo printed no confirm URL; stdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // keep the demo's output flowing

	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
	)
	defer acancel()
	tab, tcancel := chromedp.NewContext(actx)
	defer tcancel()
	if err := chromedp.Do(tab, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve"))); err != nil {
		t.Fatalf("approve in the browser: %v", err)
	}
	// The click posts the form; the result page replaces the approval page.
	var result string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		text, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("body")))
		if err != nil { // the old page's nodes vanish mid-navigation: read again
			result = err.Error()
			continue
		}
		if result = text; strings.Contains(result, "Approved") {
			break
		}
	}
	if !strings.Contains(result, "Approved") {
		t.Fatalf("the page says %q, want Approved", result)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("demo exited %d after the browser approval; stderr:\n%s", code, stderr.String())
		}
	case <-ctx.Done():
		t.Fatal("the demo kept waiting after the request was approved in the browser")
	}
}
