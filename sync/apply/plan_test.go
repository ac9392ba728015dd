package apply

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("test YAML: %v", err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func order(p Plan) string {
	var parts []string
	for _, w := range p.Waves {
		var names []string
		for _, t := range w.Tasks {
			n := t.ID.Name
			if n == "" {
				n = t.Obj.GetGenerateName() + "*"
			}
			names = append(names, t.ID.Kind+"/"+n)
		}
		parts = append(parts, w.Phase+"@"+itoa(w.Wave)+"["+strings.Join(names, " ")+"]")
	}
	return strings.Join(parts, " ")
}

func itoa(n int) string {
	b, _ := yaml.Marshal(n)
	return strings.TrimSpace(string(b))
}

func TestPlanOrdersByPhaseWaveKindName(t *testing.T) {
	p, err := NewPlan(objects(t,
		`{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}`,
		`{apiVersion: v1, kind: Service, metadata: {name: web}}`,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: b}}`,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}`,
		`{apiVersion: v1, kind: Namespace, metadata: {name: shop}}`,
		`{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}`,
		`{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.com}}`,
		`{apiVersion: batch/v1, kind: Job, metadata: {name: smoke, annotations: {argocd.argoproj.io/hook: PostSync}}}`,
		`{apiVersion: batch/v1, kind: Job, metadata: {generateName: migrate-, annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/sync-wave: "-1"}}}`,
		`{apiVersion: batch/v1, kind: Job, metadata: {name: notify, annotations: {argocd.argoproj.io/hook: SyncFail}}}`,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: late, annotations: {argocd.argoproj.io/sync-wave: "5"}}}`,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: early, annotations: {argocd.argoproj.io/sync-wave: "-2"}}}`,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: skipped, annotations: {argocd.argoproj.io/hook: Skip}}}`,
	))
	if err != nil {
		t.Fatal(err)
	}
	want := "PreSync@-1[Job/migrate-*] " +
		"Sync@-2[ConfigMap/early] " +
		"Sync@0[Namespace/shop ConfigMap/a ConfigMap/b CustomResourceDefinition/widgets.example.com Service/web Deployment/web Widget/w] " +
		"Sync@5[ConfigMap/late] " +
		"PostSync@0[Job/smoke]"
	if got := order(p); got != want {
		t.Errorf("order\n got  %s\n want %s", got, want)
	}
	if len(p.SyncFail) != 1 || p.SyncFail[0].ID.Name != "notify" {
		t.Errorf("SyncFail hooks = %+v", p.SyncFail)
	}
	if len(p.Objects) != 9 {
		t.Errorf("%d objects kept in sync, want 9 (no hooks, no Skip)", len(p.Objects))
	}
	for _, w := range p.Waves {
		for _, task := range w.Tasks {
			if task.Hook && !task.HasDeletePolicy("BeforeHookCreation") {
				t.Errorf("hook %s without a delete policy does not default to BeforeHookCreation", task.ID)
			}
		}
	}
}

func TestPlanRejectsBadAnnotationsAndDuplicates(t *testing.T) {
	for name, docs := range map[string][]string{
		"wave not a number": {`{apiVersion: v1, kind: ConfigMap, metadata: {name: a, annotations: {argocd.argoproj.io/sync-wave: two}}}`},
		"unknown hook":      {`{apiVersion: batch/v1, kind: Job, metadata: {name: j, annotations: {argocd.argoproj.io/hook: PreDeploy}}}`},
		"unknown policy":    {`{apiVersion: batch/v1, kind: Job, metadata: {name: j, annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: Never}}}`},
		"generateName":      {`{apiVersion: v1, kind: ConfigMap, metadata: {generateName: a-}}`},
		"twice": {`{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}`,
			`{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}`},
	} {
		if _, err := NewPlan(objects(t, docs...)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "ConfigMap") && !strings.Contains(err.Error(), "Job") {
			t.Errorf("%s: error %q does not name the object", name, err)
		}
	}
}

func TestPrepareSetsNamespaceLabelsAndScopesCRs(t *testing.T) {
	objs := objects(t,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}`,
		`{apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: other}}`,
		`{apiVersion: v1, kind: Namespace, metadata: {name: shop, namespace: wrong}}`,
		`{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition, metadata: {name: widgets.example.com}, spec: {group: example.com, scope: Namespaced, names: {kind: Widget}}}`,
		`{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}`,
	)
	scope := func(gvk schemaGVK) (bool, error) {
		switch gvk.Kind {
		case "Namespace", "CustomResourceDefinition":
			return false, nil
		case "ConfigMap":
			return true, nil
		}
		return false, errUnknownKind
	}
	err := Prepare(objs, PrepareOptions{Owner: nsName("team", "app"), DefaultNamespace: "shop", Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"shop", "other", "", "", "shop"} {
		if got := objs[i].GetNamespace(); got != want {
			t.Errorf("%s namespace = %q, want %q", objs[i].GetName(), got, want)
		}
		if objs[i].GetLabels()["sluice.dev/gitsync-name"] != "app" || objs[i].GetLabels()["sluice.dev/gitsync-namespace"] != "team" {
			t.Errorf("%s labels = %v", objs[i].GetName(), objs[i].GetLabels())
		}
		if objs[i].GetAnnotations()[AnnotationDigest] == "" {
			t.Errorf("%s has no digest", objs[i].GetName())
		}
	}
	unknown := objects(t, `{apiVersion: other.io/v1, kind: Gadget, metadata: {name: g}}`)
	if err := Prepare(unknown, PrepareOptions{Scope: scope}); err == nil || !strings.Contains(err.Error(), "Gadget") {
		t.Errorf("unknown kind: error %v does not name it", err)
	}
}
