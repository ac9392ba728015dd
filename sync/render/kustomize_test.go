package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

const configRepo = "testdata/configrepo"

func TestKustomizeOverlay(t *testing.T) {
	for _, typ := range []v1alpha1.RenderType{"", v1alpha1.RenderAuto, v1alpha1.RenderKustomize} {
		objs := mustRender(t, configRepo, Options{Path: "apps/payments/overlays/prod", Type: typ})
		if got, want := names(objs), "Deployment/payments Service/payments"; got != want {
			t.Fatalf("type %q: got [%s], want [%s]", typ, got, want)
		}
		deploy := find(t, objs, "Deployment", "payments")
		containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
		if len(containers) != 1 {
			t.Fatalf("type %q: %d containers, want 1", typ, len(containers))
		}
		if image := containers[0].(map[string]interface{})["image"]; image != "acme/payments:1.8.3" {
			t.Errorf("type %q: image %v, want acme/payments:1.8.3", typ, image)
		}
		if replicas, ok, _ := unstructuredInt(deploy.Object, "spec", "replicas"); !ok || replicas != 6 {
			t.Errorf("type %q: replicas %d (int64 %v), want 6", typ, replicas, ok)
		}
		for _, o := range objs {
			if o.GetNamespace() != "payments" {
				t.Errorf("type %q: %s/%s namespace %q, want payments", typ, o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
}

func TestKustomizeBaseAsDirectory(t *testing.T) {
	base := "apps/payments/base"
	objs := mustRender(t, configRepo, Options{Path: base, Type: v1alpha1.RenderDirectory})
	if got, want := names(objs), "Deployment/payments Service/payments"; got != want {
		t.Errorf("Directory: got [%s], want [%s] (kustomization.yaml is not a manifest)", got, want)
	}
	// The overlay holds only a kustomization file: as a directory it renders to nothing.
	if objs := mustRender(t, configRepo, Options{Path: "apps/payments/overlays/prod", Type: v1alpha1.RenderDirectory}); len(objs) != 0 {
		t.Errorf("Directory render of the overlay gave [%s], want nothing", names(objs))
	}
}

// outsideRepo lays out tmp/outside.yaml and a repository at tmp/repo, so that
// ../../../outside.yaml from repo/apps/x is a real file outside the repository.
func outsideRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	tmp := t.TempDir()
	writeTree(t, tmp, map[string]string{"outside.yaml": configMap("outside")})
	root := filepath.Join(tmp, "repo")
	writeTree(t, root, files)
	writeTree(t, root, map[string]string{".git/HEAD": "ref: refs/heads/main\n"})
	return root
}

func TestKustomizeRefusesPathsOutsideTheRepository(t *testing.T) {
	tests := map[string]string{
		"resource": "resources:\n  - cm.yaml\n  - ../../../outside.yaml\n",
		"base dir": "resources:\n  - cm.yaml\n  - ../../..\n",
		"patch":    "resources:\n  - cm.yaml\n  - ../../cm.yaml\npatches:\n  - path: ../../../outside.yaml\n",
		"absolute": "resources:\n  - cm.yaml\n  - /etc/passwd\n",
	}
	for name, kustomization := range tests {
		t.Run(name, func(t *testing.T) {
			root := outsideRepo(t, map[string]string{
				"apps/x/kustomization.yaml": kustomization,
				"apps/x/cm.yaml":            configMap("cm"),
				"cm.yaml":                   configMap("top"),
			})
			err := renderError(t, root, Options{Path: "apps/x"})
			if err.File != "apps/x/kustomization.yaml" || err.Line < 3 {
				t.Errorf("got %q (line %d), want apps/x/kustomization.yaml with the entry's line", err, err.Line)
			}
			if !errors.Is(err, errOutside) && !errors.Is(err, errAbsolute) {
				t.Errorf("got %q, want a refusal of the path", err)
			}
		})
	}
}

func TestKustomizeSymlinkOutOfTheRepositoryIsNotThere(t *testing.T) {
	root := outsideRepo(t, map[string]string{
		"apps/x/kustomization.yaml": "resources:\n  - link.yaml\n",
	})
	outside := filepath.Join(filepath.Dir(root), "outside.yaml")
	if err := os.Symlink(outside, filepath.Join(root, "apps/x/link.yaml")); err != nil {
		t.Fatal(err)
	}
	objs, err := Render(t.Context(), root, Options{Path: "apps/x"})
	if err == nil {
		t.Fatalf("rendered [%s] through a symlink out of the repository", names(objs))
	}
	if !strings.Contains(err.Error(), "link.yaml") {
		t.Errorf("error %q does not name link.yaml", err)
	}
}

func TestKustomizeRefusesRemoteReferences(t *testing.T) {
	t.Setenv("PATH", "")                          // no git to clone with, should the check fail
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1") // and no way out over HTTP
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	tests := map[string]string{
		"github double slash": "resources:\n  - https://github.com/x/y//z\n",
		"scp style":           "resources:\n  - git@github.com:x/y.git//z?ref=v1\n",
		"schemeless github":   "resources:\n  - github.com/x/y/z\n",
		"go-getter":           "resources:\n  - git::https://example.com/x/y.git\n",
		"http file":           "resources:\n  - http://example.com/x.yaml\n",
		"ssh":                 "components:\n  - ssh://git@example.com/x/y\n",
		"bases":               "bases:\n  - https://example.com/x/y.git\n",
		"patch path":          "resources: [cm.yaml]\npatches:\n  - path: https://example.com/p.yaml\n",
		"strategic merge":     "resources: [cm.yaml]\npatchesStrategicMerge:\n  - https://example.com/p.yaml\n",
		"generator file":      "configMapGenerator:\n  - name: c\n    files:\n      - key=https://example.com/f\n",
		"openapi":             "resources: [cm.yaml]\nopenapi:\n  path: https://example.com/schema.json\n",
		"inline transformer": "resources: [cm.yaml]\ntransformers:\n  - |\n    apiVersion: builtin\n    kind: PatchTransformer\n" +
			"    metadata:\n      name: p\n    path: https://example.com/p.yaml\n",
	}
	for name, kustomization := range tests {
		t.Run(name, func(t *testing.T) {
			root := newRepo(t, map[string]string{
				"apps/x/kustomization.yaml": kustomization,
				"apps/x/cm.yaml":            configMap("cm"),
			})
			err := renderError(t, root, Options{Path: "apps/x"})
			if !errors.Is(err, errRemote) || err.File != "apps/x/kustomization.yaml" || err.Line < 2 {
				t.Errorf("got %q (line %d), want apps/x/kustomization.yaml refusing the remote reference", err, err.Line)
			}
		})
	}
}

func TestKustomizeRefusesRemoteReferencesInReachedFiles(t *testing.T) {
	root := newRepo(t, map[string]string{
		"apps/x/overlay/kustomization.yaml": "resources:\n  - ../base\ntransformers:\n  - transformer.yaml\n",
		"apps/x/overlay/transformer.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: p\n" +
			"path: https://example.com/p.yaml\n",
		"apps/x/base/kustomization.yaml":    "resources:\n  - cm.yaml\n",
		"apps/x/base/cm.yaml":               configMap("cm"),
		"apps/y/overlay/kustomization.yaml": "resources:\n  - ../base\n",
		"apps/y/base/kustomization.yaml":    "resources:\n  - cm.yaml\n  - https://github.com/x/y//z\n",
	})
	tests := []struct {
		path, file string
		line       int
	}{
		{"apps/x/overlay", "apps/x/overlay/transformer.yaml", 5},
		{"apps/y/overlay", "apps/y/base/kustomization.yaml", 3},
	}
	for _, tt := range tests {
		err := renderError(t, root, Options{Path: tt.path})
		if !errors.Is(err, errRemote) || err.File != tt.file || err.Line != tt.line {
			t.Errorf("%s: got %q, want %s line %d refusing the remote reference", tt.path, err, tt.file, tt.line)
		}
	}
}

func TestKustomizationErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		name, content, want string
		line                int
	}{
		{"syntax", "resources:\n  - cm.yaml\nnamespace: x: y\n", "mapping values are not allowed", 3},
		{"unknown field", "resourcez:\n  - cm.yaml\n", `unknown field "resourcez"`, 0},
		{"helm", "helmCharts:\n  - name: x\n    repo: https://charts.example.com\n", "helm charts are not supported", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRepo(t, map[string]string{
				"apps/x/kustomization.yaml": tt.content,
				"apps/x/cm.yaml":            configMap("cm"),
			})
			err := renderError(t, root, Options{Path: "apps/x", Type: v1alpha1.RenderKustomize})
			if err.File != "apps/x/kustomization.yaml" || err.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q (line %d), want apps/x/kustomization.yaml line %d containing %q", err, err.Line, tt.line, tt.want)
			}
		})
	}
}

func TestKustomizeWithoutKustomization(t *testing.T) {
	root := newRepo(t, map[string]string{"apps/x/cm.yaml": configMap("cm")})
	_, err := Render(t.Context(), root, Options{Path: "apps/x", Type: v1alpha1.RenderKustomize})
	if err == nil || !strings.Contains(err.Error(), `path "apps/x" has no kustomization.yaml`) {
		t.Errorf("got %v, want an error saying apps/x has no kustomization", err)
	}
}

func TestKustomizeIgnoresHiddenFiles(t *testing.T) {
	root := newRepo(t, map[string]string{
		"kustomization.yaml": "resources:\n  - .git/config.yaml\n",
	})
	_, err := Render(t.Context(), root, Options{})
	if err == nil {
		t.Fatal("a kustomization read a file from .git")
	}
}

func TestKustomizeFeaturesThatStayLocal(t *testing.T) {
	root := newRepo(t, map[string]string{
		"Kustomization": "resources:\n  - cm.yaml\nconfigMapGenerator:\n  - name: gen\n    files:\n      - conf=files/app.conf\n" +
			"generatorOptions:\n  disableNameSuffixHash: true\npatchesStrategicMerge:\n  - |\n    apiVersion: v1\n" +
			"    kind: ConfigMap\n    metadata:\n      name: cm\n      annotations:\n        docs: https://example.com/docs\n",
		"cm.yaml":        configMap("cm"),
		"files/app.conf": "listen 8080\n",
	})
	objs := mustRender(t, root, Options{})
	if got, want := names(objs), "ConfigMap/cm ConfigMap/gen"; got != want {
		t.Fatalf("got [%s], want [%s]", got, want)
	}
	if got := objs[0].GetAnnotations()["docs"]; got != "https://example.com/docs" {
		t.Errorf("inline patch annotation %q, want the URL (a URL inside an inline patch is not a reference)", got)
	}
	if data, _, _ := unstructured.NestedString(objs[1].Object, "data", "conf"); data != "listen 8080\n" {
		t.Errorf("generated data %q", data)
	}
}

func TestIsRemote(t *testing.T) {
	remote := []string{
		"https://github.com/x/y//z", "HTTPS://example.com/x", "http://example.com/x.yaml",
		"git@github.com:x/y.git", "ssh://git@example.com/x", "file:///srv/repo", "git::https://x/y",
		"github.com/x/y", "GitHub.com:x/y", "https:foo", "https://example.com/%zz",
	}
	local := []string{"base", "../base", "./cm.yaml", "overlays/prod", "config.git/base", "a b.yaml"}
	for _, ref := range remote {
		if !isRemote(ref) {
			t.Errorf("isRemote(%q) = false, want true", ref)
		}
	}
	for _, ref := range local {
		if isRemote(ref) {
			t.Errorf("isRemote(%q) = true, want false", ref)
		}
	}
}

func TestKustomizeLoadRestrictorIsOn(t *testing.T) {
	root := newRepo(t, map[string]string{
		"apps/x/kustomization.yaml": "resources:\n  - ../shared/cm.yaml\n",
		"apps/shared/cm.yaml":       configMap("shared"),
	})
	_, err := Render(t.Context(), root, Options{Path: "apps/x"})
	if err == nil || !strings.Contains(err.Error(), "is not in or below") {
		t.Errorf("got %v, want the load restrictor to refuse a file above the kustomization", err)
	}
}
