package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/test/cluster"
)

// TestSamplesSurviveTheAPIServer applies every sample through the generated CRDs and reads it
// back: the API server's schema validation and pruning must keep every field the manifest set
// (defaults it adds are fine).
func TestSamplesSurviveTheAPIServer(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		objs, err := cluster.ReadObjects(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range objs {
			want := obj.DeepCopy()
			if obj.GetKind() != "ClusterAnalysisTemplate" {
				obj.SetNamespace(ns)
			} else {
				obj.SetName(ns + "-" + obj.GetName())
				t.Cleanup(func() { _ = env.client.Delete(context.Background(), obj) })
			}
			if err := env.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("e2e"), client.ForceOwnership); err != nil {
				t.Fatalf("apply %s %s from %s: %v", obj.GetKind(), obj.GetName(), filepath.Base(f), err)
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(obj.GroupVersionKind())
			if err := env.client.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
				t.Fatalf("get %s %s: %v", obj.GetKind(), obj.GetName(), err)
			}
			if path, ok := containsAll(normalize(t, want.Object["spec"]), normalize(t, got.Object["spec"]), "spec"); !ok {
				t.Errorf("%s %s from %s lost or changed %s on the way through the API server",
					obj.GetKind(), obj.GetName(), filepath.Base(f), path)
			}
			checked++
		}
	}
	if checked < 9 {
		t.Fatalf("checked only %d sample objects", checked)
	}
}

// normalize passes v through JSON so that numbers compare alike whichever decoder read them.
func normalize(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// containsAll reports whether every field of want is in got with the same value, and the first
// path where it is not.
func containsAll(want, got any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, wv := range w {
			if p, ok := containsAll(wv, g[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := containsAll(w[i], g[i], fmt.Sprintf("%s[%d]", path, i)); !ok {
				return p, false
			}
		}
		return "", true
	default:
		return path, reflect.DeepEqual(want, got)
	}
}

// TestConfigDefaultInstalls checks that the install command the README gives,
// `kubectl apply -k config/default`, is accepted by a real API server (client-side apply, so
// every CRD must fit the last-applied annotation), and that the controller Deployment it creates
// becomes available on a kwok node.
func TestConfigDefaultInstalls(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(cluster.ToolsDir(), "kubectl")
	cmd := exec.Command(kubectl, "--kubeconfig", env.cluster.Kubeconfig, "apply", "-k", "config/default")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply -k config/default: %v\n%s", err, out)
	}
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/rollouts.argoproj.io",
		"customresourcedefinition.apiextensions.k8s.io/gitsyncs.sluice.dev",
		"clusterrole.rbac.authorization.k8s.io/sluice-controller",
		"clusterrole.rbac.authorization.k8s.io/sluice-sync",
		"clusterrolebinding.rbac.authorization.k8s.io/sluice-sync",
		"deployment.apps/sluice-controller",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl output lacks %s:\n%s", want, out)
		}
	}
	t.Cleanup(func() {
		// The CRDs stay: the other tests use them.
		del := exec.Command(kubectl, "--kubeconfig", env.cluster.Kubeconfig, "delete", "--wait=false",
			"namespace/sluice-system", "clusterrole/sluice-controller", "clusterrolebinding/sluice-controller",
			"clusterrole/sluice-sync", "clusterrolebinding/sluice-sync")
		_ = del.Run()
	})
	eventually(t, 60*time.Second, "the sluice-controller Deployment to be available", func() (bool, error) {
		dep := &appsv1.Deployment{}
		if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: "sluice-system", Name: "sluice-controller"}, dep); err != nil {
			return false, err
		}
		return dep.Status.AvailableReplicas == *dep.Spec.Replicas, nil
	})
}
