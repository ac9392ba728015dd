package rollout_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout"
	"github.com/sluice-dev/sluice/test/cluster"
)

var k8s client.Client

// TestMain runs the reconciler against a real kube-apiserver and etcd (envtest): no kubelet and
// no ReplicaSet controller, so these tests check what the reconciler writes, not pods.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := cluster.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// This project's CRDs and the route kinds (Gateway API, Istio) the routers write.
	crds, err := cluster.CRDFiles(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env := &envtest.Environment{
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: crds},
		ErrorIfCRDPathMissing: true,
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = cluster.ToolsDir()
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start envtest (run `make tools` first):", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	_ = gatewayv1.Install(scheme)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create manager:", err)
		return 1
	}
	r := &rollout.Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(rollout.FieldManager)}
	if err := r.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, "set up controller:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create client:", err)
		return 1
	}
	return m.Run()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newRollout(name string) *v1alpha1.Rollout {
	labels := map[string]string{"app": name}
	return &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}},
			}},
		},
	}
}

// TestReplicaSetAndStatusAsArgoToolsExpect checks the objects the reconciler writes: the
// ReplicaSet's name, labels, selector, revision annotation and owner; and the status fields
// tools read (string observedGeneration, selector, currentPodHash, stableRS).
func TestReplicaSetAndStatusAsArgoToolsExpect(t *testing.T) {
	ctx := context.Background()
	ro := newRollout("shape")
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	var rs appsv1.ReplicaSet
	eventually(t, "a ReplicaSet", func() bool {
		var list appsv1.ReplicaSetList
		_ = k8s.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": "shape"})
		if len(list.Items) == 1 {
			rs = list.Items[0]
		}
		return len(list.Items) == 1
	})
	hash := rs.Labels[v1alpha1.PodTemplateHashLabelKey]
	switch {
	case hash == "" || rs.Name != "shape-"+hash:
		t.Fatalf("ReplicaSet %s with hash label %q", rs.Name, hash)
	case rs.Spec.Selector.MatchLabels[v1alpha1.PodTemplateHashLabelKey] != hash || rs.Spec.Template.Labels[v1alpha1.PodTemplateHashLabelKey] != hash:
		t.Fatalf("selector or pod template lack the hash: %+v", rs.Spec)
	case rs.Annotations[v1alpha1.RevisionAnnotationKey] != "1":
		t.Fatalf("revision annotation %q, want 1", rs.Annotations[v1alpha1.RevisionAnnotationKey])
	case metav1.GetControllerOf(&rs) == nil || metav1.GetControllerOf(&rs).Kind != "Rollout" || *rs.Spec.Replicas != 3:
		t.Fatalf("owner %+v, replicas %d", rs.OwnerReferences, *rs.Spec.Replicas)
	}
	eventually(t, "the status", func() bool {
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(ro), ro)
		return ro.Status.CurrentPodHash == hash
	})
	if ro.Status.ObservedGeneration != "1" || ro.Status.Selector != "app=shape" || ro.Status.StableRS != hash ||
		ro.Status.Phase != v1alpha1.RolloutPhaseProgressing {
		t.Fatalf("status: %+v", ro.Status)
	}
}

// TestScaleSubresource: an HPA or `kubectl scale` changes spec.replicas through the scale
// subresource, which reports status.HPAReplicas and the selector.
func TestScaleSubresource(t *testing.T) {
	ctx := context.Background()
	ro := newRollout("scaled")
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	scale := &autoscalingv1.Scale{}
	eventually(t, "the scale subresource to report the selector", func() bool {
		return k8s.SubResource("scale").Get(ctx, ro, scale) == nil && scale.Status.Selector == "app=scaled"
	})
	scale.Spec.Replicas = 5
	if err := k8s.SubResource("scale").Update(ctx, ro, client.WithSubResourceBody(scale)); err != nil {
		t.Fatalf("update scale: %v", err)
	}
	eventually(t, "the ReplicaSet to follow the new scale", func() bool {
		var list appsv1.ReplicaSetList
		_ = k8s.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": "scaled"})
		return len(list.Items) == 1 && *list.Items[0].Spec.Replicas == 5
	})
}

// TestInvalidSpecCondition: an unsupported field ends in the InvalidSpec condition naming it, and
// nothing is created.
func TestInvalidSpecCondition(t *testing.T) {
	ctx := context.Background()
	ro := newRollout("invalid")
	ro.Spec.Strategy.Canary.Steps = []v1alpha1.CanaryStep{{SetHeaderRoute: &v1alpha1.SetHeaderRoute{Name: "h"}}}
	if err := k8s.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "InvalidSpec", func() bool {
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(ro), ro)
		for _, c := range ro.Status.Conditions {
			if c.Type == v1alpha1.InvalidSpec && c.Status == corev1.ConditionTrue && c.Reason == v1alpha1.InvalidSpecReason {
				return ro.Status.Phase == v1alpha1.RolloutPhaseDegraded &&
					c.Message == "spec.strategy.canary.steps[0].setHeaderRoute requires spec.strategy.canary.trafficRouting"
			}
		}
		return false
	})
	// A reconcile writes the status before it acts: make a second one run (reconciles of one
	// Rollout are serial), so that whatever the first would have created exists by now.
	ro.Spec.Strategy.Canary.Steps = append(ro.Spec.Strategy.Canary.Steps, v1alpha1.CanaryStep{SetWeight: ptr.To[int32](50)})
	if err := k8s.Update(ctx, ro); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the change observed", func() bool {
		_ = k8s.Get(ctx, client.ObjectKeyFromObject(ro), ro)
		return ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation) && ro.Status.Phase == v1alpha1.RolloutPhaseDegraded
	})
	var list appsv1.ReplicaSetList
	if err := k8s.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": "invalid"}); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("an invalid Rollout created %d ReplicaSets", len(list.Items))
	}
}
