package e2e

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
	"github.com/sluice-dev/sluice/test/demo"
)

// TestSeedWorkflow is `make demo` as a test: the article's workflow on the sample config
// repository (examples/config-repo), with the demo's own code (test/demo), every transition
// asserted. A root GitSync applies one GitSync per environment; a commit to staging walks a
// canary with a real analysis; promotion to prod is a commit; a bad version aborts on its own,
// its GitSync staying Synced; a git revert converges; a hand edit is reverted by self-heal.
func TestSeedWorkflow(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRolloutAndAnalysis)
	r := startGitSyncReconciler(t)
	hookNS := newNamespace(t)
	token := "demo-webhook-token"
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: hookNS, Name: "webhook"}, StringData: map[string]string{"generic": token}}
	if err := env.client.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	receiver := httptest.NewServer(r.WebhookReceiver(types.NamespacedName{Namespace: hookNS, Name: "webhook"}))
	t.Cleanup(receiver.Close)
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The walk-through's namespaces are fixed (they are the sample's); they go when the test ends,
	// before the controllers stop (cleanups run last-registered first).
	t.Cleanup(func() {
		for _, ns := range []string{demo.GitOpsNamespace, demo.Namespace("staging"), demo.Namespace("prod")} {
			_ = env.client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})
	d, err := demo.Start(ctx, demo.Options{Config: env.cluster.Config, Client: env.client, RepoRoot: root, Dir: t.TempDir(),
		WebhookURL: receiver.URL, WebhookToken: token, Out: testWriter{t}})
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(d.Stop)

	// 1. Bootstrap one, get many; the migration runs before the Rollout.
	first, err := d.Bootstrap(ctx, 3*time.Minute)
	if err != nil {
		t.Fatalf("phase 1: %v", err)
	}
	for _, envName := range demo.Envs {
		if !first.MigrationFirst[envName] {
			t.Errorf("%s: the Rollout was created before the PreSync migration Job completed", envName)
		}
		if err := env.client.Get(ctx, types.NamespacedName{Namespace: demo.Namespace(envName), Name: "payments-migrate"}, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: the migration Job is still there after it succeeded (hook-delete-policy HookSucceeded): %v", envName, err)
		}
	}

	// 2. A release to staging walks the canary's steps with the analysis passing.
	staging, err := d.Release(ctx, 2, "staging", "1.1.0", "payments 1.1.0 to staging", 3*time.Minute)
	if err != nil {
		t.Fatalf("phase 2: %v", err)
	}
	checkCanaryWalk(t, "staging 1.1.0", staging)
	if !strings.Contains(staging.Analysis, "Successful") {
		t.Errorf("staging analysis %q, want Successful", staging.Analysis)
	}
	goodStable := staging.Final.Status.StableRS

	// 3. Promotion to prod is a commit copying the tag.
	prod, err := d.Promote(ctx, 3*time.Minute)
	if err != nil {
		t.Fatalf("phase 3: %v", err)
	}
	checkCanaryWalk(t, "prod 1.1.0", prod)

	// 4. A bad version: the analysis fails, traffic goes back to stable on its own, the GitSync
	// stays Synced and does not fight.
	bad, err := d.BadRelease(ctx, "1.2.0"+demo.BadSuffix, 3*time.Minute)
	if err != nil {
		t.Fatalf("phase 4: %v", err)
	}
	if !slices.Contains(bad.Routes, "90/10") || bad.Routes[len(bad.Routes)-1] != "100/0" {
		t.Errorf("bad release routes %v, want 90/10 and back to 100/0", bad.Routes)
	}
	if !strings.Contains(bad.Analysis, "Failed") {
		t.Errorf("bad release analysis %q, want Failed", bad.Analysis)
	}
	if bad.Final.Status.StableRS != goodStable {
		t.Errorf("stable is %s after the abort, want the good %s", bad.Final.Status.StableRS, goodStable)
	}
	checkSyncedThroughout(t, "bad release", bad)
	gs := &sluicev1alpha1.GitSync{}
	if err := env.client.Get(ctx, types.NamespacedName{Namespace: demo.GitOpsNamespace, Name: demo.GitSyncName("staging")}, gs); err != nil {
		t.Fatal(err)
	}
	if gs.Status.Sync == nil || gs.Status.Sync.Status != sluicev1alpha1.SyncStatusSynced || gs.Status.LastAppliedRevision != bad.Revision {
		t.Errorf("after the abort the staging GitSync is %+v at %s, want Synced at the bad revision %s", gs.Status.Sync, gs.Status.LastAppliedRevision, bad.Revision)
	}

	// 5. git revert of the bad commit: back on the good version, on the same ReplicaSet.
	back, err := d.Rollback(ctx, bad.Revision, 3*time.Minute)
	if err != nil {
		t.Fatalf("phase 5: %v", err)
	}
	if back.Final.Status.StableRS != goodStable {
		t.Errorf("after the revert stable is %s, want the good ReplicaSet %s again", back.Final.Status.StableRS, goodStable)
	}

	// 6. A hand scale of a managed object is reverted by self-heal.
	if _, err := d.SelfHeal(ctx, 5, time.Minute); err != nil {
		t.Fatalf("phase 6: %v", err)
	}
}

// checkCanaryWalk checks a release walked 90/10 and 50/50 and ended on 100/0, never back at
// 100/0 in between, and that its GitSync never called the rollout's fields drift.
func checkCanaryWalk(t *testing.T, what string, w demo.Walk) {
	t.Helper()
	routes := w.Routes
	i10, i50 := slices.Index(routes, "90/10"), slices.Index(routes, "50/50")
	if i10 < 0 || i50 < i10 || routes[len(routes)-1] != "100/0" {
		t.Errorf("%s: routes %v, want 90/10 then 50/50 then 100/0", what, routes)
	}
	if i10 >= 0 && slices.Contains(routes[i10:len(routes)-1], "100/0") {
		t.Errorf("%s: routes %v went back to 100/0 mid-canary (a sync reset the weights?)", what, routes)
	}
	if w.Final.Status.Phase != rov1.RolloutPhaseHealthy {
		t.Errorf("%s: %s, want Healthy", what, w.Final.Status.Phase)
	}
	checkSyncedThroughout(t, what, w)
}

// checkSyncedThroughout: once the GitSync reported the revision Synced, it never went OutOfSync
// (the rollout controller's weights and selectors are not drift).
func checkSyncedThroughout(t *testing.T, what string, w demo.Walk) {
	t.Helper()
	i := slices.Index(w.SyncStatuses, string(sluicev1alpha1.SyncStatusSynced))
	if i < 0 {
		t.Errorf("%s: the GitSync never reported Synced (%v)", what, w.SyncStatuses)
		return
	}
	if slices.Contains(w.SyncStatuses[i:], string(sluicev1alpha1.SyncStatusOutOfSync)) {
		t.Errorf("%s: the GitSync went OutOfSync after it synced (%v)", what, w.SyncStatuses)
	}
}

// testWriter sends the demo's narration to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
