// Package core_test guards the rule that makes the protocol core testable:
// core packages are deterministic (docs/architecture.md). They take
// randomness as an io.Reader and time as ticks; they open no socket or file,
// read no clock and start no goroutine.
package core_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var forbidden = map[string]string{
	"net":          "sockets",
	"net/http":     "sockets",
	"os":           "files",
	"os/exec":      "processes",
	"io/fs":        "files",
	"database/sql": "storage",
	"time":         "the wall clock",
	"math/rand":    "global randomness",
	"math/rand/v2": "global randomness",
	"crypto/rand":  "global randomness",
	"sync":         "shared state between goroutines",
	"log":          "logging (and the risk of logging secrets)",
	"log/slog":     "logging (and the risk of logging secrets)",
}

func TestCoreIsDeterministic(t *testing.T) {
	files := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if why, bad := forbidden[p]; bad {
				t.Errorf("%s imports %q: the core must not depend on %s", path, p, why)
			}
			if strings.Contains(p, "/store") || strings.Contains(p, "/node") || strings.Contains(p, "/net/") {
				t.Errorf("%s imports %q: the core must not import upper layers", path, p)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s:%v starts a goroutine: one owner drives the core", path, g.Pos())
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("checked only %d files: is the test running in core/?", files)
	}
}
