package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// A spec change whose first reconcile fails (Git is down) is applied once Git is back, although
// that failed reconcile already moved status.observedGeneration on and the commit is the same:
// what says "applied" is the generation the last operation ran under.
func TestGitSyncSpecChangeAppliedAfterAFailedFetch(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	rev := commit(t, repo, "two paths", map[string]string{
		"a/one.yaml": configMapYAML("one", ""),
		"b/two.yaml": configMapYAML("two", ""),
	})
	// Without prune, so that what left Git (path a's object) does not start an operation itself.
	newGitSync(t, ns, "app", srv.URL("config"), "a", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Automated.Prune = false
	})
	waitGitSync(t, ns, "app", 90*time.Second, "first sync of path a", syncedAt(rev))

	srv.Stop()
	patch := []byte(`{"spec":{"source":{"path":"b"}}}`)
	gs := getGitSync(t, ns, "app")
	if err := env.client.Patch(context.Background(), gs, rawMerge(patch)); err != nil {
		t.Fatalf("change the path: %v", err)
	}
	gen := gs.Generation
	waitGitSync(t, ns, "app", 60*time.Second, "FetchFailed at the new generation", func(gs *sluicev1alpha1.GitSync) bool {
		return conditionReason(sluicev1alpha1.ConditionReady, sluicev1alpha1.ReasonFetchFailed)(gs) && gs.Status.ObservedGeneration == gen
	})

	if err := srv.Restart(); err != nil {
		t.Fatalf("restart git server: %v", err)
	}
	gs = waitGitSync(t, ns, "app", 90*time.Second, "path b applied at the same commit", func(gs *sluicev1alpha1.GitSync) bool {
		op := gs.Status.OperationState
		return op != nil && op.Generation == gen && op.Phase == sluicev1alpha1.OperationSucceeded && gs.Status.LastAppliedRevision == rev
	})
	if err := env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "two"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("path b's ConfigMap: %v", err)
	}
	// Path a's object is kept (no prune) and reported as having left Git.
	if err := env.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "one"}, &corev1.ConfigMap{}); err != nil {
		t.Errorf("path a's ConfigMap (no prune): %v", err)
	}
	if gs.Status.Sync == nil || gs.Status.Sync.Status != sluicev1alpha1.SyncStatusOutOfSync {
		t.Errorf("sync %+v, want OutOfSync for the object that left Git", gs.Status.Sync)
	}
}
