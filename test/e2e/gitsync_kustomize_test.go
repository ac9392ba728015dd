package e2e

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// TestGitSyncKustomizeOverlay: a path holding a kustomization is built with Kustomize (Auto): the
// overlay's image tag and replicas patch reach the cluster, and a tag promoted in Git follows.
func TestGitSyncKustomizeOverlay(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	overlay := func(tag string) string {
		return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\n" +
			"namespace: " + ns + "\nimages:\n- name: acme/payments\n  newTag: \"" + tag + "\"\n" +
			"patches:\n- target: {kind: Deployment, name: payments}\n  patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 3\n"
	}
	rev := commit(t, repo, "payments", map[string]string{
		"apps/payments/base/kustomization.yaml": "resources:\n- deploy.yaml\n",
		"apps/payments/base/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: payments
spec:
  replicas: 1
  selector:
    matchLabels: {app: payments}
  template:
    metadata:
      labels: {app: payments}
    spec:
      containers:
      - name: payments
        image: acme/payments:1.0.0
`,
		"apps/payments/overlays/prod/kustomization.yaml": overlay("1.8.3"),
	})
	newGitSync(t, ns, "payments", srv.URL("config"), "apps/payments/overlays/prod", nil)
	waitGitSync(t, ns, "payments", 60*time.Second, "overlay synced", syncedAt(rev))
	dep := &appsv1.Deployment{}
	if err := getObj(t, ns, "payments", dep); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "acme/payments:1.8.3" || *dep.Spec.Replicas != 3 {
		t.Fatalf("Deployment image %s replicas %d, want acme/payments:1.8.3 and 3", img, *dep.Spec.Replicas)
	}
	rev2 := commit(t, repo, "promote", map[string]string{"apps/payments/overlays/prod/kustomization.yaml": overlay("1.9.0")})
	requestSync(t, ns, "payments")
	waitGitSync(t, ns, "payments", 60*time.Second, "promotion synced", syncedAt(rev2))
	if err := getObj(t, ns, "payments", dep); err != nil || dep.Spec.Template.Spec.Containers[0].Image != "acme/payments:1.9.0" {
		t.Fatalf("after the promotion: image %v (err %v), want acme/payments:1.9.0", dep.Spec.Template.Spec.Containers, err)
	}
}
