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
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/systemuser-agent/systemuser-agent"

type pkg struct {
	ImportPath   string
	Dir          string
	Name         string
	Doc          string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
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
			Imports: bp.Imports, TestImports: bp.TestImports, XTestImports: bp.XTestImports})
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

// allowedOwn lists, per package, the project packages its non-test code may import (STYLE.md §3).
var allowedOwn = map[string][]string{
	"agent":            {"tokens", "config"},
	"tokens":           {},
	"keystore":         {"internal/winpipe"},          // the Windows hand-over pipe
	"peer":             {"agent", "internal/winpipe"}, // attested listeners hand agent.AttestedConns
	"internal/winpipe": {},
	"config":           {},
	"sandbox":          {},
	"registry":         {"tokens"},
	// jwks: a Maskinporten client's published key set (self-service API, merge); tokens for the admin token.
	"jwks":      {"tokens"},
	"installer": {"config"},
	"setup":     {"keystore", "registry", "tokens", "config", "installer", "jwks"},
	"doctor":    {"config", "keystore", "tokens", "registry", "installer", "jwks"},
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
		for _, imp := range p.Imports {
			if own, ok := strings.CutPrefix(imp, module+"/"); ok {
				if strings.HasPrefix(own, "internal/realdeps") || strings.HasPrefix(own, "internal/winelane") {
					t.Errorf("%s imports %s outside tests; it is test-only", rel, own)
				}
				allowed, ruled := allowedOwn[rel]
				if ruled && !slices.Contains(allowed, own) {
					t.Errorf("%s imports %s; STYLE.md §3 allows only %v", rel, own, allowed)
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
