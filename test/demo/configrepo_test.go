package demo

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/lint"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/render"
)

// configRepo is examples/config-repo in this checkout.
func configRepo(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", "config-repo")
}

// Each environment renders with the controller's renderer to what the article's workflow needs:
// its namespace, its image tag and replicas, the migration Job as a PreSync hook that runs before
// the Rollout, and manifests the controllers accept (the same checks as InvalidSpec).
func TestConfigRepoOverlaysRender(t *testing.T) {
	root := configRepo(t)
	for env, replicas := range map[string]int64{"staging": 2, "prod": 4} {
		objs, err := render.Render(context.Background(), root, render.Options{Path: "apps/payments/overlays/" + env})
		if err != nil {
			t.Fatalf("%s: render: %v", env, err)
		}
		kinds := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			if ns := o.GetNamespace(); ns != "payments-"+env {
				t.Errorf("%s: %s %s in namespace %q, want payments-%s", env, o.GetKind(), o.GetName(), ns, env)
			}
			kinds[o.GetKind()+"/"+o.GetName()] = o
		}
		for _, want := range []string{"Rollout/payments", "Service/payments-stable", "Service/payments-canary",
			"HTTPRoute/payments", "AnalysisTemplate/success-rate", "Job/payments-migrate"} {
			if kinds[want] == nil {
				t.Errorf("%s: no %s in %d objects", env, want, len(objs))
			}
		}
		ro := kinds["Rollout/payments"]
		if ro == nil {
			continue
		}
		if got, _, _ := unstructured.NestedInt64(ro.Object, "spec", "replicas"); got != replicas {
			t.Errorf("%s: replicas %d, want %d", env, got, replicas)
		}
		containers, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
		if img := containers[0].(map[string]any)["image"]; img != "registry.example.com/payments:1.0.0" {
			t.Errorf("%s: image %v", env, img)
		}

		// Order: the migration is a PreSync hook, deleted once it succeeded, before the Rollout.
		prepared := make([]*unstructured.Unstructured, len(objs))
		for i, o := range objs {
			prepared[i] = o.DeepCopy()
		}
		plan, err := apply.NewPlan(prepared)
		if err != nil {
			t.Fatalf("%s: plan: %v", env, err)
		}
		first := plan.Waves[0]
		if first.Phase != apply.PhasePreSync || len(first.Tasks) != 1 || first.Tasks[0].ID.Name != "payments-migrate" ||
			!strings.Contains(strings.Join(first.Tasks[0].DeletePolicies, ","), "HookSucceeded") {
			t.Errorf("%s: first wave %+v, want the migration Job alone as a PreSync hook deleted on success", env, first)
		}
		lintObjects(t, env, objs)
	}
}

// The GitSyncs of clusters/local and bootstrap/ are valid and point at the overlays that exist.
func TestConfigRepoGitSyncs(t *testing.T) {
	root := configRepo(t)
	children, err := render.Render(context.Background(), root, render.Options{Path: "clusters/local"})
	if err != nil {
		t.Fatalf("render clusters/local: %v", err)
	}
	if len(children) != 2 {
		t.Fatalf("clusters/local holds %d objects, want one GitSync per environment", len(children))
	}
	for _, gs := range children {
		path, _, _ := unstructured.NestedString(gs.Object, "spec", "source", "path")
		if _, err := render.Render(context.Background(), root, render.Options{Path: path}); err != nil {
			t.Errorf("GitSync %s names path %q, which does not render: %v", gs.GetName(), path, err)
		}
	}
	lintObjects(t, "clusters/local", children)
	boot, err := render.Render(context.Background(), root, render.Options{Path: "bootstrap"})
	if err != nil {
		t.Fatalf("render bootstrap: %v", err)
	}
	lintObjects(t, "bootstrap", boot)
}

func lintObjects(t *testing.T, what string, objs []*unstructured.Unstructured) {
	t.Helper()
	var docs []lint.Document
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, lint.Document{File: what, Data: data})
	}
	var r lint.Report
	r.Check(docs)
	for _, p := range r.Problems {
		t.Errorf("lint: %s", p)
	}
	if r.Objects == 0 {
		t.Errorf("%s: lint found none of its kinds", what)
	}
}
