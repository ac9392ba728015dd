package lint

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluice-dev/sluice/controllers/analysisrun"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func lines(r Report) string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func TestValidManifests(t *testing.T) {
	r, err := Paths([]string{"testdata/valid.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 0 || r.Objects != 3 {
		t.Fatalf("want 3 objects (the Service is not ours) and no problems, got %d objects:\n%s", r.Objects, lines(r))
	}
}

// TestInvalidManifests: every problem of a multi-document file and of a directory (a JSON file
// in a sub-directory, a README skipped), one line each with file, line, object and field.
func TestInvalidManifests(t *testing.T) {
	r, err := Paths([]string{"testdata/invalid.yaml", "testdata/dir"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := lines(r)
	path := filepath.Join("testdata", "invalid.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("problems differ (run with -update to accept):\n--- got\n%s--- want\n%s", got, want)
	}
	if r.Objects != 6 {
		t.Fatalf("want 6 objects, got %d", r.Objects)
	}
}

// TestStdin: "-" reads a multi-document stream, as kustomize build prints it.
func TestStdin(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Paths([]string{"-"}, strings.NewReader("---\n"+string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) == 0 || r.Problems[0].File != "<stdin>" || r.Problems[0].Line != 2 {
		t.Fatalf("want problems in <stdin> from line 2, got:\n%s", lines(r))
	}
}

func TestSplitDocuments(t *testing.T) {
	docs := SplitDocuments("f.yaml", []byte("# comment only\n---\n\na: 1\n--- # second\nb: 2\n---\n"))
	if len(docs) != 2 || docs[0].Line != 4 || docs[1].Line != 6 || string(docs[1].Data) != "b: 2\n" {
		t.Fatalf("documents: %+v", docs)
	}
}

// TestSupportedProvidersAreTheControllers: lint accepts exactly the providers the AnalysisRun
// controller builds.
func TestSupportedProvidersAreTheControllers(t *testing.T) {
	c := fake.NewClientBuilder().Build()
	providers := analysisrun.DefaultProviders(c, c)
	if len(providers) != len(supportedProviders) {
		t.Fatalf("controller providers %v, lint's %v", providers, supportedProviders)
	}
	for name := range providers {
		if !supportedProviders[name] {
			t.Fatalf("lint does not accept the controller's provider %q", name)
		}
	}
}

// TestStepAnalysisAgainstTemplatesInTheFiles: the rollout controller's analysis checks run
// against the templates found in the files; a rollout whose templates are not there is not
// checked for them (they live in the cluster).
func TestStepAnalysisAgainstTemplatesInTheFiles(t *testing.T) {
	r, err := Paths([]string{"testdata/endless-analysis.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `testdata/endless-analysis.yaml:3: Rollout web: spec.strategy.canary.steps[1].analysis: metric "errors" of AnalysisTemplate error-rate has an interval and no count, so it would never end; only background analysis may run until terminated` + "\n"
	if got := lines(r); got != want {
		t.Fatalf("got:\n%swant:\n%s", got, want)
	}
	// Without the templates, nothing is said about them.
	data, err := os.ReadFile("testdata/endless-analysis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rolloutOnly := strings.SplitN(string(data), "\n---\n", 2)[0]
	if r, err = Paths([]string{"-"}, strings.NewReader(rolloutOnly)); err != nil || len(r.Problems) != 0 {
		t.Fatalf("the rollout alone: %v\n%s", err, lines(r))
	}
}
