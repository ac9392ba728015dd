package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// writeTree writes files (slash path -> content) under dir and returns dir.
func writeTree(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newRepo makes a checkout-like directory: the files plus a .git directory holding a manifest
// that must never be rendered.
func newRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	root := writeTree(t, t.TempDir(), files)
	writeTree(t, root, map[string]string{
		".git/HEAD":        "ref: refs/heads/main\n",
		".git/config.yaml": configMap("from-git-dir"),
	})
	return root
}

func configMap(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
}

func mustRender(t *testing.T, root string, opts Options) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(context.Background(), root, opts)
	if err != nil {
		t.Fatalf("Render(%+v): %v", opts, err)
	}
	if objs == nil {
		t.Fatalf("Render(%+v) returned a nil slice", opts)
	}
	return objs
}

// renderError renders, expects an *Error, and returns it.
func renderError(t *testing.T, root string, opts Options) *Error {
	t.Helper()
	_, err := Render(context.Background(), root, opts)
	if err == nil {
		t.Fatalf("Render(%+v) succeeded, want an error", opts)
	}
	var renderErr *Error
	if !errors.As(err, &renderErr) {
		t.Fatalf("Render(%+v) error %q (%T) is not an *Error", opts, err, err)
	}
	return renderErr
}

// names lists objects as Kind/name.
func names(objs []*unstructured.Unstructured) string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(out, " ")
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q in [%s]", kind, name, names(objs))
	return nil
}
