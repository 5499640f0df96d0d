// Package systemuseragent_test holds repository-wide checks: the import map of STYLE.md §3 (which package
// may import which, and where each third-party dependency lives), documentation on every package and
// exported name, the links and test names of the Markdown docs (docs_test.go), and the caller examples of
// docs/callers.md run against a real agent (callers_test.go). It has no non-test code.
package systemuseragent_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/systemuser-agent/systemuser-agent"

type pkg struct {
	ImportPath string
	Dir        string
	Name       string
	Doc        string
	GoFiles    []string
	Imports    []string
	// IgnoredGoFiles are non-test files of other platforms (e.g. _windows.go on Linux).
	IgnoredGoFiles []string
	TestImports    []string
	XTestImports   []string
}

// listPackages reads every package of the module from source with go/build, for this test binary's
// GOOS and GOARCH, so the checks need no Go toolchain: they run the same in the wine lane's Windows test
// binary (which sees the Windows files) as on Linux.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		bp, err := build.ImportDir(path, build.ImportComment)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read package %s: %w", path, err)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		ip := module
		if rel != "." {
			ip += "/" + filepath.ToSlash(rel)
		}
		pkgs = append(pkgs, pkg{ImportPath: ip, Dir: path, Name: bp.Name, Doc: bp.Doc, GoFiles: bp.GoFiles,
			Imports: bp.Imports, IgnoredGoFiles: bp.IgnoredGoFiles, TestImports: bp.TestImports, XTestImports: bp.XTestImports})
		return nil
	})
	if err != nil {
		t.Fatalf("list the module's packages: %v", err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages under %s; run the test from the module root", len(pkgs), root)
	}
	return pkgs
}

// allowedOwn lists, per package, the project packages its non-test code may import (STYLE.md §3). Every
// package with non-test code must be listed: a new package says here what it may use.
var allowedOwn = map[string][]string{
	"agent":             {"tokens", "config", "internal/peercred"},
	"tokens":            {},
	"keystore":          {"internal/winpipe", "internal/peercred"}, // the Windows hand-over pipe; the reload socket's peer
	"peer":              {"agent", "internal/winpipe"},             // attested listeners hand agent.AttestedConns
	"internal/winpipe":  {},
	"internal/peercred": {}, // SO_PEERCRED, one reader for agent's callers' socket and keystore's reload socket
	"config":            {},
	"sandbox":           {},
	"registry":          {"tokens"},
	// jwks: a Maskinporten client's published key set (self-service API, merge); tokens for the admin token.
	"jwks":         {"tokens"},
	"installer":    {"config"},
	"callersecret": {"internal/winpipe"}, // winpipe.OneAccount: the one rule for what an os_user may be
	"setup":        {"keystore", "registry", "tokens", "config", "installer", "jwks", "callersecret"},
	"doctor":       {"config", "keystore", "tokens", "registry", "installer", "jwks"},
	// cmd/agent wires the libraries; upstream calls go through setup and doctor, never registry directly.
	"cmd/agent": {"agent", "callersecret", "config", "doctor", "installer", "keystore", "peer", "sandbox", "setup", "tokens"},
	// Tools and test helpers use no project package outside their tests.
	"cmd/benchbare":       {},
	"perf":                {},
	"scripts/bench-drive": {},
	"internal/realdeps":   {},
	"internal/testlog":    {},
	"internal/winelane":   {},
	"packaging":           {},
}

// importedOnlyBy says which packages alone may import a package in their non-test code: the agent's
// server, the onboarding and the checks are wired by the command and by nothing else (peer only hands
// the server its attested connections).
var importedOnlyBy = map[string][]string{
	"agent":  {"cmd/agent", "peer"},
	"setup":  {"cmd/agent"},
	"doctor": {"cmd/agent"},
}

// thirdPartyHome says which of our packages alone may import a third-party module (STYLE.md §2.2).
var thirdPartyHome = map[string][]string{
	"github.com/kardianos/service":          {"installer"},
	"github.com/zalando/go-keyring":         {"keystore"},
	"go.yaml.in/yaml/v3":                    {"config"},
	"github.com/hashicorp/go-retryablehttp": {"tokens", "registry"},
	// The tpm2 backend talks to the TPM; the windows-cert backend signs through CNG.
	"github.com/google/go-tpm":      {"keystore"},
	"github.com/google/certtostore": {"keystore"},
}

func TestImportMap(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		allowed, ruled := allowedOwn[rel]
		if !ruled && len(p.GoFiles) > 0 {
			t.Errorf("package %s is not in repo_test.go's allowedOwn: add it with the project packages it may import (STYLE.md §3)", rel)
		}
		for _, imp := range p.Imports {
			if own, ok := strings.CutPrefix(imp, module+"/"); ok {
				if strings.HasPrefix(own, "internal/realdeps") || strings.HasPrefix(own, "internal/winelane") {
					t.Errorf("%s imports %s outside tests; it is test-only", rel, own)
				}
				if !slices.Contains(allowed, own) {
					t.Errorf("%s imports %s; STYLE.md §3 allows only %v", rel, own, allowed)
				}
				if only, ok := importedOnlyBy[own]; ok && !slices.Contains(only, rel) {
					t.Errorf("%s imports %s, which only %v may import", rel, own, only)
				}
			}
			for mod, homes := range thirdPartyHome {
				if (imp == mod || strings.HasPrefix(imp, mod+"/")) && !slices.Contains(homes, rel) {
					t.Errorf("%s imports %s; only %v may (one home per dependency)", rel, imp, homes)
				}
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no package doc comment saying its one job", p.ImportPath)
		}
	}
}

// TestExportedDocs requires a doc comment on every exported top-level name and method.
func TestExportedDocs(t *testing.T) {
	fset := token.NewFileSet()
	for _, p := range listPackages(t) {
		for _, f := range p.GoFiles {
			path := filepath.Join(p.Dir, f)
			file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			for _, d := range file.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Name.IsExported() && d.Doc == nil && receiverExported(d) {
						t.Errorf("%s: exported %s has no doc comment", fset.Position(d.Pos()), d.Name.Name)
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						checkSpec(t, fset, d, s)
					}
				}
			}
		}
	}
}

func receiverExported(d *ast.FuncDecl) bool {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return true
	}
	typ := d.Recv.List[0].Type
	if st, ok := typ.(*ast.StarExpr); ok {
		typ = st.X
	}
	if ix, ok := typ.(*ast.IndexExpr); ok {
		typ = ix.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

func checkSpec(t *testing.T, fset *token.FileSet, d *ast.GenDecl, s ast.Spec) {
	t.Helper()
	grouped := d.Lparen.IsValid()
	switch s := s.(type) {
	case *ast.TypeSpec:
		if s.Name.IsExported() && s.Doc == nil && (d.Doc == nil || grouped) {
			t.Errorf("%s: exported type %s has no doc comment", fset.Position(s.Pos()), s.Name.Name)
		}
	case *ast.ValueSpec:
		for _, n := range s.Names {
			// A documented group (const block with a doc) covers its members.
			if n.IsExported() && s.Doc == nil && s.Comment == nil && d.Doc == nil {
				t.Errorf("%s: exported %s has no doc comment", fset.Position(n.Pos()), n.Name)
			}
		}
	}
}

// cmdAgentMaxLines bounds cmd/agent's non-test code: it parses flags, asks, prints and wires; the work
// lives in the libraries (issue 18 moved it out at 4,811 lines).
const cmdAgentMaxLines = 3000

// cmdAgentBanned are the calls no non-test file of cmd/agent may make: writing or removing files (the
// libraries do that: setup, callersecret, config, installer, keystore) and HTTP with the default,
// unhardened client (upstream calls go through setup and doctor with the hardened client of tokens).
var cmdAgentBanned = map[string][]string{
	"os": {"WriteFile", "Create", "CreateTemp", "OpenFile", "Rename", "Remove", "RemoveAll", "Mkdir", "MkdirAll",
		"MkdirTemp", "Chmod", "Chown", "Lchown", "Symlink", "Link", "Truncate", "OpenRoot"},
	"net/http": {"DefaultClient", "Get", "Post", "PostForm", "Head"},
}

// TestCmdAgentOnlyAsksAndPrints holds issue 18's rule: cmd/agent stays under cmdAgentMaxLines lines of
// non-test code, writes no file and makes no HTTP call of its own (and imports no registry: see
// allowedOwn).
func TestCmdAgentOnlyAsksAndPrints(t *testing.T) {
	fset := token.NewFileSet()
	lines := 0
	for _, p := range listPackages(t) {
		if p.ImportPath != module+"/cmd/agent" {
			continue
		}
		for _, f := range append(slices.Clone(p.GoFiles), p.IgnoredGoFiles...) {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			path := filepath.Join(p.Dir, f)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines += strings.Count(string(src), "\n")
			for _, bad := range bannedCalls(t, fset, path, src) {
				t.Errorf("%s: cmd/agent calls %s; do file writes and upstream calls in a library (setup, callersecret, ...)", bad.pos, bad.name)
			}
		}
	}
	if lines == 0 {
		t.Fatal("found no cmd/agent source")
	}
	if lines >= cmdAgentMaxLines {
		t.Errorf("cmd/agent has %d lines of non-test code, the limit is %d: move library work into a package", lines, cmdAgentMaxLines)
	}
}

type bannedCall struct{ pos, name string }

// bannedCalls lists the uses of cmdAgentBanned names in the file, whatever the package is imported as.
func bannedCalls(t *testing.T, fset *token.FileSet, path string, src []byte) []bannedCall {
	t.Helper()
	file, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	local := map[string]string{} // local name -> import path
	for _, imp := range file.Imports {
		ip := strings.Trim(imp.Path.Value, `"`)
		if _, ok := cmdAgentBanned[ip]; !ok {
			continue
		}
		name := filepath.Base(ip)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		local[name] = ip
	}
	var out []bannedCall
	ast.Inspect(file, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		if ip, ok := local[id.Name]; ok && slices.Contains(cmdAgentBanned[ip], sel.Sel.Name) {
			out = append(out, bannedCall{pos: fset.Position(sel.Pos()).String(), name: ip + "." + sel.Sel.Name})
		}
		return true
	})
	return out
}

// TestBannedCallsFound shows bannedCalls sees a write and a default-client call, also under another
// import name, and nothing in harmless code.
func TestBannedCallsFound(t *testing.T) {
	src := []byte(`package main

import (
	"net/http"
	xos "os"
)

func f() {
	_ = xos.WriteFile("x", nil, 0o600)
	_, _ = http.DefaultClient.Get("http://x")
	_, _ = xos.ReadFile("x")
}
`)
	got := bannedCalls(t, token.NewFileSet(), "x.go", src)
	var names []string
	for _, b := range got {
		names = append(names, b.name)
	}
	if want := []string{"os.WriteFile", "net/http.DefaultClient"}; !slices.Equal(names, want) {
		t.Errorf("found %v, want %v", names, want)
	}
}
