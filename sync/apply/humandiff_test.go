package apply

import (
	"strings"
	"testing"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/sync/inventory"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDiffShowsTheFieldsGitSets(t *testing.T) {
	desired := obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, labels: {app: web},
  annotations: {sluice.dev/desired-digest: abc}},
  spec: {replicas: 2, template: {spec: {containers: [{name: web, image: "web:2"}]}}}}`)
	live := obj(t, `{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: shop, uid: u1, resourceVersion: "7",
  labels: {app: web, extra: x}, annotations: {sluice.dev/desired-digest: old, deployment.kubernetes.io/revision: "3"}},
  spec: {replicas: 5, strategy: {type: RollingUpdate}, template: {spec: {restartPolicy: Always,
    containers: [{name: web, image: "web:1", imagePullPolicy: IfNotPresent}]}}}, status: {replicas: 5}}`)
	got, err := (&Comparer{}).Diff(live, desired)
	if err != nil {
		t.Fatal(err)
	}
	want := `--- live/Deployment shop/web
+++ git/Deployment shop/web
@@ -6,9 +6,9 @@
   name: web
   namespace: shop
 spec:
-  replicas: 5
+  replicas: 2
   template:
     spec:
       containers:
-      - image: web:1
+      - image: web:2
         name: web
`
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	for _, noise := range []string{"uid", "resourceVersion", "status", "restartPolicy", "imagePullPolicy", "extra", "desired-digest", "revision"} {
		if strings.Contains(got, noise) {
			t.Errorf("diff shows %q, which Git does not set", noise)
		}
	}
	if d, _ := (&Comparer{}).Diff(desired, desired); d != "" {
		t.Errorf("an object equal to Git has a diff:\n%s", d)
	}
}

func TestDiffOfAMissingObjectAndOfRolloutFields(t *testing.T) {
	desired := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop}, data: {key: value}}`)
	got, _ := (&Comparer{}).Diff(nil, desired)
	if !strings.Contains(got, "@@ -0,0 +1,") || !strings.Contains(got, "+  key: value") || strings.Contains(got, "\n-") {
		t.Errorf("a missing object is not added whole:\n%s", got)
	}
	// The rollout controller's weights are not shown as a change.
	cmp := &Comparer{Others: NewOthers([]*rov1.Rollout{rollout(t, canaryRollout)}, nil)}
	diffs, err := cmp.Diffs(map[inventory.ID]*unstructured.Unstructured{inventory.Of(obj(t, routeDesired)): obj(t, routeLive("/"))},
		[]*unstructured.Unstructured{obj(t, routeDesired), desired})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || diffs[0].ID.Kind != "ConfigMap" {
		t.Errorf("diffs %+v, want only the missing ConfigMap (route weights are the rollout's)", diffs)
	}
}

func TestUnifiedDiffHunks(t *testing.T) {
	a := strings.Split("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", " ")
	b := append([]string{}, a...)
	b[1], b[17] = "two", "eighteen"
	got := unifiedDiff("a", "b", a, b)
	if n := strings.Count(got, "@@ -"); n != 2 {
		t.Errorf("two distant changes give %d hunks:\n%s", n, got)
	}
	if !strings.Contains(got, "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n") {
		t.Errorf("first hunk wrong:\n%s", got)
	}
	if !strings.Contains(got, "@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n") {
		t.Errorf("second hunk wrong:\n%s", got)
	}
	c := append([]string{}, a...)
	c[1], c[6] = "two", "seven" // close changes share a hunk
	if n := strings.Count(unifiedDiff("a", "c", a, c), "@@ -"); n != 1 {
		t.Errorf("two close changes give %d hunks", n)
	}
}
