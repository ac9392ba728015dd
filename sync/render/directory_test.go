package render

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestDirectoryRecurse(t *testing.T) {
	root := newRepo(t, map[string]string{
		"apps/web/b.yaml":             configMap("b"),
		"apps/web/a.yml":              configMap("a"),
		"apps/web/c.json":             `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}`,
		"apps/web/README.md":          "not a manifest",
		"apps/web/sub/d.yaml":         configMap("d"),
		"apps/web/sub/deeper/e.yaml":  configMap("e"),
		"apps/web.yaml":               configMap("outside-path"),
		"apps/web/.hidden.yaml":       configMap("hidden-file"),
		"apps/web/.github/wf.yaml":    configMap("hidden-dir"),
		"apps/web/sub/.git/obj.yaml":  configMap("nested-git"),
		"apps/web/a.yaml.orig":        configMap("wrong-extension"),
		"apps/web/sub/deeper/f.YAML":  configMap("f"),
		"apps/web/sub/deeper/g.jsonx": configMap("wrong-extension"),
	})
	tests := []struct {
		recurse bool
		want    string
	}{
		{false, "ConfigMap/a ConfigMap/b ConfigMap/c"},
		{true, "ConfigMap/a ConfigMap/b ConfigMap/c ConfigMap/d ConfigMap/e ConfigMap/f"},
	}
	for _, tt := range tests {
		objs := mustRender(t, root, Options{Path: "apps/web", Type: v1alpha1.RenderDirectory, Recurse: tt.recurse})
		if got := names(objs); got != tt.want {
			t.Errorf("recurse=%v: got [%s], want [%s]", tt.recurse, got, tt.want)
		}
	}
}

func TestDirectoryOrderIsByPath(t *testing.T) {
	// "a.yaml" sorts before "a/x.yaml" as a path although a walk would visit the directory first.
	root := newRepo(t, map[string]string{
		"a/x.yaml": configMap("in-dir"),
		"a.yaml":   configMap("file"),
		"b.yaml":   configMap("last"),
	})
	objs := mustRender(t, root, Options{Recurse: true})
	if got, want := names(objs), "ConfigMap/file ConfigMap/in-dir ConfigMap/last"; got != want {
		t.Errorf("got [%s], want [%s]", got, want)
	}
}

func TestDirectoryDocuments(t *testing.T) {
	multi := strings.Join([]string{
		"# leading comment\n" + configMap("one"),
		"",
		"# a document that is only a comment\n",
		"\n\n",
		configMap("two"),
		`apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: three
  - apiVersion: v1
    kind: Secret
    metadata:
      generateName: four-
`,
		"apiVersion: v1\nkind: List\nitems: []\n",
	}, "---\n")
	root := newRepo(t, map[string]string{
		"multi.yaml": multi,
		"empty.yaml": "",
		"list.json": `{"apiVersion": "v1", "kind": "List", "items": [
			{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "five"}, "data": {"n": "1"}}]}`,
		"plain.json": `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "six"}, "spec": {"replicas": 3}}`,
	})
	objs := mustRender(t, root, Options{Type: v1alpha1.RenderDirectory})
	want := "ConfigMap/five ConfigMap/one ConfigMap/two ConfigMap/three Secret/ Deployment/six"
	if got := names(objs); got != want {
		t.Fatalf("got [%s], want [%s]", got, want)
	}
	if got := objs[4].GetGenerateName(); got != "four-" {
		t.Errorf("List item generateName = %q, want four-", got)
	}
	replicas, _, _ := unstructuredInt(objs[5].Object, "spec", "replicas")
	if replicas != 3 {
		t.Errorf("JSON Deployment replicas = %d, want 3 as an int64", replicas)
	}
}

func unstructuredInt(obj map[string]interface{}, fields ...string) (int64, bool, error) {
	var cur interface{} = obj
	for _, f := range fields {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return 0, false, errors.New("not a map")
		}
		cur = m[f]
	}
	n, ok := cur.(int64)
	return n, ok, nil
}

func TestDirectoryEmptyIsEmptySlice(t *testing.T) {
	root := newRepo(t, map[string]string{"docs/README.md": "nothing to apply"})
	if objs := mustRender(t, root, Options{Path: "docs"}); len(objs) != 0 {
		t.Errorf("got %d objects, want none", len(objs))
	}
}

func TestDirectorySkipsKustomizationFiles(t *testing.T) {
	root := newRepo(t, map[string]string{
		"apps/kustomization.yaml":      "resources: [cm.yaml]\n",
		"apps/cm.yaml":                 configMap("cm"),
		"apps/sub/kustomization.yml":   "resources: [x.yaml]\n",
		"apps/sub/x.yaml":              configMap("x"),
		"apps/sub/kustomization.json5": "not a manifest either",
	})
	objs := mustRender(t, root, Options{Path: "apps", Type: v1alpha1.RenderDirectory, Recurse: true})
	if got, want := names(objs), "ConfigMap/cm ConfigMap/x"; got != want {
		t.Errorf("got [%s], want [%s]", got, want)
	}
}

func TestDirectoryYAMLSyntaxErrorLineInSecondDocument(t *testing.T) {
	content := configMap("first") + // lines 1-4
		"---\n" + // line 5
		"apiVersion: v1\n" + // line 6
		"kind: ConfigMap\n" + // line 7
		"metadata:\n" + // line 8
		"  name: second\n" + // line 9
		"data:\n" + // line 10
		"  key: value\n" + // line 11
		"    bad: indentation\n" // line 12
	root := newRepo(t, map[string]string{"apps/web/deploy.yaml": content})
	err := renderError(t, root, Options{Path: "apps/web"})
	if err.File != "apps/web/deploy.yaml" || err.Line != 12 {
		t.Fatalf("got %s (file %q line %d), want apps/web/deploy.yaml line 12", err, err.File, err.Line)
	}
	if want := "apps/web/deploy.yaml line 12: mapping values are not allowed in this context"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}

func TestDirectoryInvalidObjects(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantLine int
		wantText string
	}{
		{"no kind", configMap("a") + "---\n# comment\napiVersion: v1\nmetadata:\n  name: b\n", 7, `object "b" is missing kind`},
		{"no name", "\n\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", 3, "ConfigMap is missing metadata.name"},
		{"no apiVersion", "kind: ConfigMap\nmetadata:\n  name: c\n", 1, `ConfigMap "c" is missing apiVersion`},
		{"scalar document", "just a string\n", 1, "not a YAML mapping"},
		{"list item", "apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: d}\n", 1, "list item 1: object ConfigMap \"d\" is missing apiVersion"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nkind: Secret\n", 3, `mapping key "kind" already defined at line 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRepo(t, map[string]string{"m/x.yaml": tt.content})
			err := renderError(t, root, Options{Path: "m"})
			if err.File != "m/x.yaml" || err.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("got %q (line %d), want m/x.yaml line %d containing %q", err, err.Line, tt.wantLine, tt.wantText)
			}
		})
	}
}

func TestDirectoryJSONErrors(t *testing.T) {
	tests := []struct {
		content  string
		wantLine int
		wantText string
	}{
		{"{\n  \"apiVersion\": \"v1\",\n  \"kind\": ,\n}", 3, "invalid character"},
		{"\n[{\"kind\": \"ConfigMap\"}]", 2, "does not hold a JSON object"},
		{"{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n{}", 2, "invalid character"},
		{"{\"apiVersion\": \"v1\", \"metadata\": {\"name\": \"a\"}}", 1, "missing kind"},
	}
	for _, tt := range tests {
		root := newRepo(t, map[string]string{"x.json": tt.content})
		err := renderError(t, root, Options{})
		if err.File != "x.json" || err.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantText) {
			t.Errorf("%q: got %q (line %d), want line %d containing %q", tt.content, err, err.Line, tt.wantLine, tt.wantText)
		}
	}
}

func TestRenderPathErrors(t *testing.T) {
	root := newRepo(t, map[string]string{"apps/web/cm.yaml": configMap("cm")})
	tests := []struct {
		path string
		want string
	}{
		{"apps/missing", `path "apps/missing" does not exist in the repository`},
		{"../x", "leaves the repository"},
		{"apps/../../x", "leaves the repository"},
		{"/etc", "relative to the repository root"},
		{".git", "hidden"},
		{"apps/web/cm.yaml", "not a directory"},
	}
	for _, tt := range tests {
		_, err := Render(context.Background(), root, Options{Path: tt.path})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("path %q: got %v, want an error containing %q", tt.path, err, tt.want)
		}
	}
	_, err := Render(context.Background(), root, Options{Type: "Helm"})
	if err == nil || !strings.Contains(err.Error(), `unknown render type "Helm"`) {
		t.Errorf("type Helm: got %v", err)
	}
}

func TestRenderRootPathForms(t *testing.T) {
	root := newRepo(t, map[string]string{"cm.yaml": configMap("cm")})
	for _, p := range []string{"", ".", "./", "apps/.."} {
		if got := names(mustRender(t, root, Options{Path: p})); got != "ConfigMap/cm" {
			t.Errorf("path %q: got [%s]", p, got)
		}
	}
}

func TestDirectorySymlinks(t *testing.T) {
	tmp := t.TempDir()
	writeTree(t, tmp, map[string]string{"outside.yaml": configMap("outside")})
	root := newRepo(t, map[string]string{
		"shared/cm.yaml": configMap("shared"),
		"apps/own.yaml":  configMap("own"),
	})
	links := map[string]string{
		"apps/inside.yaml":   "../shared/cm.yaml",                // inside the repository: read
		"apps/escape.yaml":   filepath.Join(tmp, "outside.yaml"), // absolute, outside: skipped
		"apps/relative.yaml": "../../outside.yaml",               // relative, outside: skipped
		"apps/dangling.yaml": "missing.yaml",                     // dangling: skipped
		"apps/dir.yaml":      "../shared",                        // a directory: skipped
		"apps/sub":           "../shared",                        // directory link: not followed
		"apps/git.yaml":      "../.git/config.yaml",              // into .git: skipped
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	objs := mustRender(t, root, Options{Path: "apps", Recurse: true})
	if got, want := names(objs), "ConfigMap/shared ConfigMap/own"; got != want {
		t.Errorf("got [%s], want [%s]", got, want)
	}
	for link, target := range map[string]string{"away": tmp, "gitlink": ".git"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
		if objs, err := Render(context.Background(), root, Options{Path: link}); err == nil {
			t.Errorf("path %q, a symlink to %s, rendered [%s]", link, target, names(objs))
		}
	}
}

func TestRenderHonoursCancelledContext(t *testing.T) {
	root := newRepo(t, map[string]string{"cm.yaml": configMap("cm")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, typ := range []v1alpha1.RenderType{v1alpha1.RenderDirectory, v1alpha1.RenderKustomize} {
		if _, err := Render(ctx, root, Options{Type: typ}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, want context.Canceled", typ, err)
		}
	}
}
