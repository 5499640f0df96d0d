package systemuseragent_test

import (
	"bytes"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/systemuser-agent/systemuser-agent/internal/winelane"
)

// TestMarkdownLinks checks every link in every tracked Markdown file: it must stay inside the repository
// (no scheme, no absolute path, no way out through ".."), name a tracked file or directory, and, when it
// has a #fragment into a Markdown file, a heading of that file. A clone has nothing else, so a link that
// leaves the repository is a dead link for its reader.
func TestMarkdownLinks(t *testing.T) {
	files := trackedFiles(t)
	for f, src := range readTracked(t, files, ".md") {
		for _, l := range markdownLinks(string(src)) {
			if err := checkLink(f, l.dest, files); err != nil {
				t.Errorf("%s:%d: link %q: %v", f, l.line, l.dest, err)
			}
		}
	}
}

// sharedDir is the design folder beside the repository, written so that this file does not contain it.
const sharedDir = ".." + "/shared"

// TestNoSharedReferences keeps the repository self-contained: no tracked text points into the design
// folder of the team that wrote it (the sibling "shared" folder), which a clone does not have.
func TestNoSharedReferences(t *testing.T) {
	for _, f := range trackedFiles(t) {
		switch path.Ext(f) {
		case ".md", ".go", ".yaml", ".yml", ".sh", ".txt", "":
		default:
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a directory entry or a submodule
		}
		if i := bytes.Index(b, []byte(sharedDir)); i >= 0 {
			t.Errorf("%s:%d refers to %s, which a clone does not have; link the docs/ page instead",
				f, bytes.Count(b[:i], []byte("\n"))+1, sharedDir)
		}
	}
}

// TestLinkChecker shows that the checker finds what it must, on a small made-up repository.
func TestLinkChecker(t *testing.T) {
	files := []string{"README.md", "docs/a.md", "docs/img/x.png", "config.example.yaml"}
	headings := map[string]string{"docs/a.md": "# Title\n\n## Local API: routes & errors\n\n## Title\n"}
	cases := []struct {
		from, dest string
		ok         bool
	}{
		{"README.md", "docs/a.md", true},
		{"README.md", "./docs/a.md", true},
		{"README.md", "docs", true},
		{"README.md", "docs/img/", true},
		{"docs/a.md", "../config.example.yaml", true},
		{"docs/a.md", "img/x.png", true},
		{"docs/a.md", "#title", true},
		{"docs/a.md", "#title-1", true},
		{"README.md", "docs/a.md#local-api-routes--errors", true},
		{"README.md", "docs/a.md#missing", false},
		{"README.md", "docs/b.md", false},
		{"README.md", sharedDir + "/design/security.md", false},
		{"docs/a.md", "../../outside.md", false},
		{"README.md", "/etc/passwd", false},
		{"README.md", "https://example.com/", false},
		{"README.md", "file:///etc/passwd", false},
		{"README.md", "mailto:someone@example.com", false},
	}
	readMD := func(f string) (string, error) {
		if s, ok := headings[f]; ok {
			return s, nil
		}
		return "", os.ErrNotExist
	}
	for _, tc := range cases {
		err := checkLinkWith(tc.from, tc.dest, files, readMD)
		if (err == nil) != tc.ok {
			t.Errorf("%s → %s: err %v, want ok=%v", tc.from, tc.dest, err, tc.ok)
		}
	}
	src := "[a](x.md) and `[b](y.md)` and ![c](img.png \"title\")\n```\n[d](z.md)\n```\n[ref]: w.md\n<https://auto.example>\n"
	var got []string
	for _, l := range markdownLinks(src) {
		got = append(got, l.dest)
	}
	want := []string{"x.md", "img.png", "w.md", "https://auto.example"}
	if !slices.Equal(got, want) {
		t.Errorf("links found %q, want %q (code is not a link)", got, want)
	}
}

// trackedFiles lists the repository's tracked files (git ls-files), the only files a clone has.
func trackedFiles(t *testing.T) []string {
	t.Helper()
	winelane.Skip(t, "needs git, which the wine prefix lacks; these check the checkout's files, not Windows, and the Linux lane runs them")
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v (run the tests inside the git checkout)", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatal("git ls-files listed nothing")
	}
	return files
}

// readTracked yields the name and contents of each of files that ends in suffix, failing the test if
// one cannot be read.
func readTracked(t *testing.T, files []string, suffix string) iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		for _, f := range files {
			if !strings.HasSuffix(f, suffix) {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("read %s: %v", f, err)
			}
			if !yield(f, b) {
				return
			}
		}
	}
}

// mdLink is one link target and the line it is on.
type mdLink struct {
	dest string
	line int
}

var (
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	autoLink   = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]+)>`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
)

// markdownLinks returns the link targets of a Markdown text: inline links and images, reference
// definitions and autolinks, outside fenced code blocks and code spans.
func markdownLinks(src string) []mdLink {
	var links []mdLink
	for i, line := range outsideFences(src) {
		line = codeSpan.ReplaceAllString(line, "")
		if m := refDef.FindStringSubmatch(line); m != nil {
			links = append(links, mdLink{m[1], i + 1})
			continue
		}
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{m[1], i + 1})
		}
		for _, m := range autoLink.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{m[1], i + 1})
		}
	}
	return links
}

// outsideFences yields the index and text of each line of a Markdown text that is outside fenced code
// blocks (``` or ~~~), leaving out the fence lines themselves.
func outsideFences(src string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		fence := ""
		for i, line := range strings.Split(src, "\n") {
			trimmed := strings.TrimSpace(line)
			if fence != "" {
				if strings.HasPrefix(trimmed, fence) {
					fence = ""
				}
				continue
			}
			if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
				fence = trimmed[:3]
				continue
			}
			if !yield(i, line) {
				return
			}
		}
	}
}

var scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// checkLink checks one link of the tracked file from, reading Markdown targets from disk.
func checkLink(from, dest string, files []string) error {
	return checkLinkWith(from, dest, files, func(f string) (string, error) {
		b, err := os.ReadFile(f)
		return string(b), err
	})
}

func checkLinkWith(from, dest string, files []string, readMD func(string) (string, error)) error {
	if scheme.MatchString(dest) {
		return fmt.Errorf("leaves the repository; a clone's reader may have no network: link a file in the repository, or cite the source as plain text")
	}
	if strings.HasPrefix(dest, "/") {
		return fmt.Errorf("is an absolute path; make it relative to %s", path.Dir(from))
	}
	target, frag, _ := strings.Cut(dest, "#")
	if target == "" {
		target = from
	} else {
		target = path.Clean(path.Join(path.Dir(from), target))
	}
	if target == ".." || strings.HasPrefix(target, "../") {
		return fmt.Errorf("points outside the repository")
	}
	isFile := slices.Contains(files, target)
	isDir := target == "." || slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(f, target+"/") })
	if !isFile && !isDir {
		return fmt.Errorf("%s is not a tracked file or directory", target)
	}
	if frag == "" || !strings.HasSuffix(target, ".md") {
		return nil
	}
	src, err := readMD(target)
	if err != nil {
		return err
	}
	if !slices.Contains(headingAnchors(src), frag) {
		return fmt.Errorf("%s has no heading with anchor #%s", target, frag)
	}
	return nil
}

// headingAnchors are the anchors GitHub gives the ATX headings of a Markdown text: lower case, letters,
// digits, '-' and '_' kept, spaces made '-', the rest dropped; a repeated anchor gets -1, -2, ….
func headingAnchors(src string) []string {
	var anchors []string
	seen := map[string]int{}
	for _, line := range outsideFences(src) {
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		text = strings.TrimLeft(text, "#")
		if text != "" && text[0] != ' ' {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors = append(anchors, fmt.Sprintf("%s-%d", a, n))
		} else {
			anchors = append(anchors, a)
		}
		seen[a]++
	}
	return anchors
}

// testNameSpan is a Go test, fuzz or benchmark function named in a code span of a Markdown file.
var testNameSpan = regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Z0-9][A-Za-z0-9_]*)`")

// TestDocumentedTestsExist keeps the docs honest: every test named in a code span of a tracked Markdown
// file (docs/security.md names one per defence) is a function of a tracked _test.go file.
func TestDocumentedTestsExist(t *testing.T) {
	files := trackedFiles(t)
	defined := map[string]bool{}
	funcDecl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)\w*)\(`)
	for _, b := range readTracked(t, files, "_test.go") {
		for _, m := range funcDecl.FindAllSubmatch(b, -1) {
			defined[string(m[1])] = true
		}
	}
	named := 0
	for f, b := range readTracked(t, files, ".md") {
		for _, m := range testNameSpan.FindAllSubmatchIndex(b, -1) {
			name := string(b[m[2]:m[3]])
			named++
			if !defined[name] {
				t.Errorf("%s:%d names test %s, which no tracked _test.go file defines; name the test that "+
					"shows it now", f, bytes.Count(b[:m[0]], []byte("\n"))+1, name)
			}
		}
	}
	if named < 20 {
		t.Errorf("the docs name only %d tests; docs/security.md should name one per defence", named)
	}
}
