package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
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
		"customresourcedefinition.apiextensions.k8s.io/experiments.argoproj.io",
		"customresourcedefinition.apiextensions.k8s.io/gitsyncs.sluice.dev",
		"clusterrole.rbac.authorization.k8s.io/sluice-controller",
		"clusterrole.rbac.authorization.k8s.io/sluice-sync",
		"clusterrolebinding.rbac.authorization.k8s.io/sluice-sync",
		"deployment.apps/sluice-controller",
		"service/sluice-controller-metrics",
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

// argoKinds are the argoproj.io/v1alpha1 resources the upstream tools (the `kubectl argo
// rollouts` plugin, Argo CD) list or watch; a missing one makes `get rollout` hang.
var argoKinds = map[string]string{
	"rollouts":                 "Rollout",
	"analysisruns":             "AnalysisRun",
	"analysistemplates":        "AnalysisTemplate",
	"clusteranalysistemplates": "ClusterAnalysisTemplate",
	"experiments":              "Experiment",
}

// TestCRDsFromConfigCRDServeTheArgoKinds installs config/crd (its kustomization, nothing else)
// into an API server of its own and checks that every kind the upstream tools list or watch is
// served, can be listed and watched, and that an Experiment in Argo Rollouts' shape survives the
// schema.
func TestCRDsFromConfigCRDServeTheArgoKinds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	crds := buildConfigCRD(t, filepath.Join(root, "config", "crd"))
	// Every generated CRD must be in the kustomization, or `kubectl apply -k` leaves it out.
	bases, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != len(bases) {
		t.Errorf("config/crd/kustomization.yaml builds %d CRDs, config/crd/bases holds %d", len(crds), len(bases))
	}

	// A bare API server, so that nothing the shared cluster installed hides a missing CRD.
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapLevel())))
	testEnv := &envtest.Environment{}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		testEnv.BinaryAssetsDirectory = cluster.ToolsDir()
	}
	cfg, err := testEnv.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = testEnv.Stop() })

	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(crd), client.FieldOwner("e2e"), client.ForceOwnership); err != nil {
			t.Fatalf("apply CRD %s: %v", crd.GetName(), err)
		}
	}

	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gv := rolloutsv1alpha1.GroupVersion.String()
	eventually(t, 30*time.Second, "every Argo kind to be served by "+gv, func() (bool, error) {
		list, err := disco.ServerResourcesForGroupVersion(gv)
		if err != nil {
			return false, err
		}
		missing := servedMissing(list.APIResources)
		if len(missing) > 0 {
			return false, fmt.Errorf("not served with list and watch: %v", missing)
		}
		return true, nil
	})

	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for plural := range argoKinds {
		res := dyn.Resource(rolloutsv1alpha1.GroupVersion.WithResource(plural))
		if _, err := res.List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list %s: %v", plural, err)
		}
		w, err := res.Watch(ctx, metav1.ListOptions{})
		if err != nil {
			t.Errorf("watch %s: %v", plural, err)
			continue
		}
		w.Stop()
	}

	checkExperimentRoundTrip(ctx, t, dyn, root)
}

// buildConfigCRD renders the kustomization in dir and returns its CustomResourceDefinitions.
func buildConfigCRD(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	data, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.DecodeObjects(data)
	if err != nil {
		t.Fatal(err)
	}
	var crds []*unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, obj)
		}
	}
	return crds
}

// servedMissing lists the Argo kinds that the discovery answer lacks, or serves under another
// kind name or without list and watch.
func servedMissing(resources []metav1.APIResource) []string {
	served := map[string]metav1.APIResource{}
	for _, r := range resources {
		served[r.Name] = r
	}
	var missing []string
	for plural, kind := range argoKinds {
		r, ok := served[plural]
		if !ok || r.Kind != kind || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") {
			missing = append(missing, plural)
		}
	}
	slices.Sort(missing)
	return missing
}

// checkExperimentRoundTrip creates an Experiment as Argo Rollouts users write it, with the status
// the Argo controller would write (api/testdata/experiment.yaml, which the Go types round-trip
// too), and checks that the API server keeps every field.
func checkExperimentRoundTrip(ctx context.Context, t *testing.T, dyn dynamic.Interface, root string) {
	t.Helper()
	objs, err := cluster.ReadObjects(filepath.Join(root, "api", "testdata", "experiment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := objs[0]
	res := dyn.Resource(rolloutsv1alpha1.GroupVersion.WithResource("experiments")).Namespace("default")
	got, err := res.Create(ctx, want.DeepCopy(), metav1.CreateOptions{FieldValidation: "Strict"})
	if err != nil {
		t.Fatalf("create Experiment: %v", err)
	}
	for _, field := range []string{"spec", "status"} {
		if path, ok := containsAll(normalize(t, want.Object[field]), normalize(t, got.Object[field]), field); !ok {
			t.Errorf("Experiment lost or changed %s on the way through the API server", path)
		}
	}
	typed := &rolloutsv1alpha1.Experiment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(got.Object, typed); err != nil {
		t.Fatalf("decode Experiment into the Go type: %v", err)
	}
	if typed.Spec.Duration != "1h" || len(typed.Spec.Templates) != 2 || typed.Status.Phase != rolloutsv1alpha1.AnalysisPhaseRunning {
		t.Errorf("Experiment decoded as %+v", typed)
	}
}
