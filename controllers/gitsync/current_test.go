package gitsync

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// Self-heal acts for a synced set only while the GitSync still stands behind it. The client is a
// fake (it stands for the manager's cache); the rule under test is current's.
func TestSelfHealOnlyForTheSyncedSpecAndRevision(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "argo", Name: "app"}
	set := &syncedSet{uid: "u1", generation: 3, revision: "aaaa"}
	base := func() *v1alpha1.GitSync {
		gs := &v1alpha1.GitSync{}
		gs.Namespace, gs.Name, gs.UID, gs.Generation = key.Namespace, key.Name, "u1", 3
		gs.Status.Sync = &v1alpha1.SyncStatus{Revision: "aaaa"}
		return gs
	}
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.GitSync)
		want   bool
	}{
		{"as synced", func(*v1alpha1.GitSync) {}, true},
		{"no revision reported yet", func(gs *v1alpha1.GitSync) { gs.Status.Sync = nil }, true},
		{"a new revision resolved, not yet applied", func(gs *v1alpha1.GitSync) { gs.Status.Sync.Revision = "bbbb" }, false},
		{"a spec change not yet synced", func(gs *v1alpha1.GitSync) { gs.Generation = 4 }, false},
		{"suspended", func(gs *v1alpha1.GitSync) { gs.Spec.Suspend = true }, false},
		{"recreated under the same name", func(gs *v1alpha1.GitSync) { gs.UID = "u2" }, false},
	} {
		gs := base()
		tc.mutate(gs)
		r := &Reconciler{Client: fake.NewClientBuilder().WithScheme(scheme).WithObjects(gs).Build()}
		got, err := r.current(context.Background(), key, set)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: current = %v, want %v", tc.name, got, tc.want)
		}
	}
	r := &Reconciler{Client: fake.NewClientBuilder().WithScheme(scheme).Build()}
	if got, err := r.current(context.Background(), key, set); err != nil || got {
		t.Errorf("deleted GitSync: current = %v (%v), want false", got, err)
	}
}

// A spec change is one no operation has run under; an operation state from before the field
// existed falls back to observedGeneration (no operation on every GitSync at an upgrade); a
// running manual operation goes on after a spec edit, an automated one gives way to a new one.
func TestSpecChangedAndOperationRunning(t *testing.T) {
	const rev = "aaaa"
	mk := func(gen, observed, opGen int64, phase string, automated bool) *run {
		gs := &v1alpha1.GitSync{}
		gs.Generation = gen
		gs.Status.ObservedGeneration = observed
		if phase != "" {
			gs.Status.OperationState = &v1alpha1.OperationState{Phase: phase, Revision: rev, Generation: opGen}
		}
		if automated {
			gs.Spec.SyncPolicy = &v1alpha1.SyncPolicy{Automated: &v1alpha1.AutomatedSync{}}
		}
		return &run{gs: gs}
	}
	for _, tc := range []struct {
		name             string
		r                *run
		changed, running bool
	}{
		{"no operation yet", mk(1, 0, 0, "", true), true, false},
		{"synced at this generation", mk(2, 2, 2, v1alpha1.OperationSucceeded, true), false, false},
		{"a spec change whose reconcile failed before an operation", mk(3, 3, 2, v1alpha1.OperationSucceeded, true), true, false},
		{"an operation state from before the field, spec observed", mk(3, 3, 0, v1alpha1.OperationSucceeded, true), false, false},
		{"an operation state from before the field, spec not observed", mk(4, 3, 0, v1alpha1.OperationSucceeded, true), true, false},
		{"automated operation running, spec unchanged", mk(2, 2, 2, v1alpha1.OperationRunning, true), false, true},
		{"automated operation running, spec edited", mk(3, 3, 2, v1alpha1.OperationRunning, true), true, false},
		{"manual operation running, spec edited: it goes on", mk(3, 3, 2, v1alpha1.OperationRunning, false), true, true},
		{"manual operation running from before the field", mk(3, 2, 0, v1alpha1.OperationRunning, false), true, true},
	} {
		if got := tc.r.specChanged(); got != tc.changed {
			t.Errorf("%s: specChanged = %v, want %v", tc.name, got, tc.changed)
		}
		if got := tc.r.operationRunning(rev); got != tc.running {
			t.Errorf("%s: operationRunning = %v, want %v", tc.name, got, tc.running)
		}
	}
}
