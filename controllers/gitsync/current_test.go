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
