package tests_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneWayToWait checks that no code under tests/ waits with a loop of
// its own around time.Sleep: every wait goes through proc.Await (or
// WaitUntil, built on it), which gives up when a watched process dies and
// reports what it last saw. The one other loop that sleeps is a client's
// retries with backoff, which waits for nothing but answers.
func TestOneWayToWait(t *testing.T) {
	allowed := map[string]string{
		"harness/proc/wait.go": "the one way to wait",
		"suite/load.go":        "UntilAnswered: a client's retries with backoff",
	}
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			switch loop := n.(type) {
			case *ast.ForStmt:
				body = loop.Body
			case *ast.RangeStmt:
				body = loop.Body
			default:
				return true
			}
			if sleepsIn(body) {
				if _, ok := allowed[filepath.ToSlash(path)]; !ok {
					t.Errorf("%s: a loop around time.Sleep; wait with proc.Await", path)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d Go files under tests/, want the whole tree", files)
	}
}

// sleepsIn reports whether body calls time.Sleep itself: not in a function
// it starts (a goroutine that sleeps once, say).
func sleepsIn(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sleep" {
				if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "time" {
					found = true
				}
			}
		}
		return !found
	})
	return found
}
