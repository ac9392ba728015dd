// Package frametest checks the rollout reconciler's frame (observe, plan, write the status first,
// act) against a real kube-apiserver when writes race or fail, with faults injected into the
// reconciler's own client. It holds tests only.
package frametest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
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

// racingStatus is the reconciler's client; while armed, the next Rollout status write is raced
// by a person's abort (a merge patch of status.abort through another client), which reaches the
// API server first, so the controller's write carries a stale resourceVersion.
type racingStatus struct {
	client.Client
	person    client.Client
	armed     atomic.Bool
	conflicts atomic.Int32
}

func (c *racingStatus) Status() client.SubResourceWriter {
	return &racingWriter{SubResourceWriter: c.Client.Status(), c: c}
}

type racingWriter struct {
	client.SubResourceWriter
	c *racingStatus
}

func (w *racingWriter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if ro, ok := obj.(*v1alpha1.Rollout); ok && w.c.armed.CompareAndSwap(true, false) {
		abort := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ro.Namespace, Name: ro.Name}}
		if err := w.c.person.Status().Patch(ctx, abort, client.RawPatch(types.MergePatchType, []byte(`{"status":{"abort":true}}`))); err != nil {
			return fmt.Errorf("the person's abort: %w", err)
		}
		err := w.SubResourceWriter.Update(ctx, obj, opts...)
		if apierrors.IsConflict(err) {
			w.c.conflicts.Add(1)
		}
		return err
	}
	return w.SubResourceWriter.Update(ctx, obj, opts...)
}

// TestAbortRacingTheStatusWriteIsNotLost: at a canary's pause a person promotes, and aborts at
// the moment the controller writes the status that ends the pause. The controller's write
// conflicts; it plans again on the aborted Rollout, records the abort (never overwriting it) and
// returns to the stable version.
func TestAbortRacingTheStatusWriteIsNotLost(t *testing.T) {
	var racing *racingStatus
	ctx, person := startController(t, func(c, person client.Client) client.Client {
		racing = &racingStatus{Client: c, person: person}
		return racing
	})
	labels := map[string]string{"app": "web"}
	ro := &v1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: v1alpha1.RolloutSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
			Strategy: v1alpha1.RolloutStrategy{Canary: &v1alpha1.CanaryStrategy{
				Steps: []v1alpha1.CanaryStep{{SetWeight: ptr.To[int32](50)}, {Pause: &v1alpha1.RolloutPause{}}},
			}},
		},
	}
	if err := person.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	get := func() *v1alpha1.Rollout {
		cur := &v1alpha1.Rollout{}
		if err := person.Get(ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
			t.Fatal(err)
		}
		return cur
	}
	eventually(t, "the first revision Healthy", func() bool { return get().Status.Phase == v1alpha1.RolloutPhaseHealthy })
	stable := get().Status.StableRS

	cur := get()
	cur.Spec.Template.Spec.Containers[0].Image = "app:2"
	if err := person.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the canary paused at 50%", func() bool { return get().Status.Phase == v1alpha1.RolloutPhasePaused })
	// A promote (as the plugin does it); the status write that records the step it ends is raced
	// by the abort.
	racing.armed.Store(true)
	if err := person.Status().Patch(ctx, get(), client.RawPatch(types.MergePatchType, []byte(`{"status":{"pauseConditions":null}}`))); err != nil {
		t.Fatal(err)
	}
	var last *v1alpha1.Rollout
	defer func() {
		if t.Failed() && last != nil {
			t.Logf("last status: abort %v abortedAt %v phase %s stable %s current %s message %q conflicts %d armed %v",
				last.Status.Abort, last.Status.AbortedAt, last.Status.Phase, last.Status.StableRS, last.Status.CurrentPodHash, last.Status.Message, racing.conflicts.Load(), racing.armed.Load())
		}
	}()
	eventually(t, "the abort recorded and the update rolled back", func() bool {
		last = get()
		return last.Status.Abort && last.Status.AbortedAt != nil && last.Status.Phase == v1alpha1.RolloutPhaseDegraded &&
			last.Status.StableRS == stable && last.Status.CurrentPodHash != stable
	})
	if racing.armed.Load() || racing.conflicts.Load() != 1 {
		t.Fatalf("the race did not happen as meant: armed %v, conflicts %d", racing.armed.Load(), racing.conflicts.Load())
	}
	eventually(t, "the canary scaled down and the stable at full size", func() bool {
		var list appsv1.ReplicaSetList
		if err := person.List(ctx, &list, client.InNamespace("default")); err != nil {
			return false
		}
		for _, rs := range list.Items {
			want := int32(0)
			if rs.Labels[v1alpha1.PodTemplateHashLabelKey] == stable {
				want = 2
			}
			if ptr.Deref(rs.Spec.Replicas, 1) != want {
				return false
			}
		}
		return get().Status.Abort // and the abort still stands
	})
}

// startController starts a manager on its own envtest API server with the rollout reconciler,
// whose client is wrap applied to the manager's, and a stand-in for the ReplicaSet controller and
// kubelet (every ReplicaSet's pods are available at once). It returns a client for the person.
func startController(t *testing.T, wrap func(c, person client.Client) client.Client) (context.Context, client.Client) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS must name the control plane binaries (make tools; see docs/testing.md)")
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	crds, err := cluster.CRDFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{CRDInstallOptions: envtest.CRDInstallOptions{Paths: crds}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	_ = gatewayv1.Install(scheme)
	person, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		t.Fatal(err)
	}
	r := &rollout.Reconciler{Client: wrap(mgr.GetClient(), person), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(rollout.FieldManager)}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = mgr.Start(ctx) }()
	// The ReplicaSet controller and kubelet: every ReplicaSet's pods are available at once.
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			var list appsv1.ReplicaSetList
			if person.List(ctx, &list, client.InNamespace("default")) == nil {
				for i := range list.Items {
					rs := &list.Items[i]
					n := ptr.Deref(rs.Spec.Replicas, 1)
					if rs.Status.Replicas != n || rs.Status.AvailableReplicas != n || rs.Status.ObservedGeneration != rs.Generation {
						rs.Status = appsv1.ReplicaSetStatus{Replicas: n, FullyLabeledReplicas: n, ReadyReplicas: n, AvailableReplicas: n, ObservedGeneration: rs.Generation}
						_ = person.Status().Update(ctx, rs)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return ctx, person
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
