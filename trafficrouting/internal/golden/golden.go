// Package golden holds the before/after YAML helpers of the routers' rewrite tests: load an object
// from testdata, and compare an object with testdata/golden/<name>.yaml (go test -update rewrites
// the golden files).
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Load decodes testdata/file into a new T, rejecting unknown fields.
func Load[T any](t testing.TB, file string) *T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	obj := new(T)
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return obj
}

// Compare fails the test when obj, as YAML, differs from testdata/golden/<name>.yaml.
func Compare(t testing.TB, name string, obj any) {
	t.Helper()
	got, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (go test -update creates it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from its golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// Step is one pure rewrite of an object and whether it must report a change.
type Step[T any] struct {
	Do          func(T) (bool, error)
	WantChanged bool
}

// Changes is a step that must change the object; Unchanged one that must leave it alone.
func Changes[T any](do func(T) (bool, error)) Step[T]   { return Step[T]{Do: do, WantChanged: true} }
func Unchanged[T any](do func(T) (bool, error)) Step[T] { return Step[T]{Do: do} }

// Run loads testdata/in, runs the steps in order, compares the result with the golden file name
// and returns it.
func Run[T any](t testing.TB, in, name string, steps ...Step[*T]) *T {
	t.Helper()
	obj := Load[T](t, in)
	for i, s := range steps {
		changed, err := s.Do(obj)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if changed != s.WantChanged {
			t.Fatalf("step %d: changed = %v, want %v", i, changed, s.WantChanged)
		}
	}
	Compare(t, name, obj)
	return obj
}
