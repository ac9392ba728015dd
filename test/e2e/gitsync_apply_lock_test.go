package e2e

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/controllers/gitsync"
	"github.com/sluice-dev/sluice/sync/apply"
)

// A sync that fills a field from the live object (here an HPA's replicas) must not write back a
// value that changed after it read the object: the apply carries the live resourceVersion, the API
// server refuses a stale one, and the applier reads the object again.
func TestGitSyncApplyIsConditionalOnTheLiveVersion(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	clients, err := gitsync.NewClients(env.cluster.Config, 4)
	if err != nil {
		t.Fatal(err)
	}
	applier, err := clients.For("", "")
	if err != nil {
		t.Fatal(err)
	}
	desired := parseObject(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: `+ns+`}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "registry.example/web:1"}]}`)
	hpa := parseObject(t, `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: `+ns+`}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, maxReplicas: 10}`)
	cmp := &apply.Comparer{Others: apply.NewOthers(nil, []*unstructured.Unstructured{hpa})}

	stale, err := applier.Apply(ctx, desired)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	// The HPA scales to 5 after the sync read the Deployment at 3.
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = ns, "web"
	if err := env.client.Patch(ctx, d, rawMerge([]byte(`{"spec":{"replicas":5}}`)), client.FieldOwner("hpa-stand-in")); err != nil {
		t.Fatalf("scale to 5: %v", err)
	}

	// Git changes the image; the fill takes replicas from the stale read (3).
	changed := desired.DeepCopy()
	_ = unstructured.SetNestedSlice(changed.Object, []any{map[string]any{"name": "web", "image": "registry.example/web:2"}},
		"spec", "template", "spec", "containers")
	if filled := cmp.ForApply(changed, stale); filled.GetResourceVersion() != stale.GetResourceVersion() {
		t.Fatalf("the filled object holds resourceVersion %q, want the stale read's %q", filled.GetResourceVersion(), stale.GetResourceVersion())
	}
	out, err := applier.ApplyFilled(ctx, apply.Pending{Desired: changed, Live: stale}, cmp.ForApply)
	if err != nil {
		t.Fatalf("ApplyFilled: %v", err)
	}
	if err := env.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, d); err != nil {
		t.Fatal(err)
	}
	if got := *d.Spec.Replicas; got != 5 {
		t.Errorf("replicas %d after the sync, want the HPA's 5 (the stale 3 was written back)", got)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example/web:2" {
		t.Errorf("image %q, want Git's registry.example/web:2", img)
	}
	if out.GetResourceVersion() == stale.GetResourceVersion() {
		t.Errorf("ApplyFilled returned the stale version")
	}

	// The API server's own refusal: the same stale apply, sent without the applier's re-read.
	if _, err := applier.Apply(ctx, cmp.ForApply(changed, stale)); err == nil {
		t.Errorf("an apply with a stale resourceVersion was accepted")
	}
}

func parseObject(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	o := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
		t.Fatalf("parse %s: %v", doc, err)
	}
	return o
}
