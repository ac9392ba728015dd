package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// driftRepo commits a ConfigMap and a two-replica Deployment and starts a GitSync on them with an
// interval of an hour, so that only live watches can explain a quick correction.
func driftRepo(t *testing.T, ns string, selfHeal bool) string {
	t.Helper()
	credentialsSecret(t, ns)
	srv, repo := gitRepo(t)
	rev := commit(t, repo, "app", map[string]string{
		"app/config.yaml": configMapYAML("settings", ""),
		"app/deploy.yaml": deploymentYAML("web:1.0"),
	})
	newGitSync(t, ns, "app", srv.URL("config"), "app", func(gs *sluicev1alpha1.GitSync) {
		gs.Spec.SyncPolicy.Automated.SelfHeal = selfHeal
	})
	waitGitSync(t, ns, "app", 60*time.Second, "first sync", syncedAt(rev))
	return rev
}

// scaleByHand changes spec.replicas as `kubectl scale` does: through the scale subresource.
func scaleByHand(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	dep := &appsv1.Deployment{}
	dep.Namespace, dep.Name = ns, name
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	if err := env.client.SubResource("scale").Patch(context.Background(), dep, rawMerge(patch), client.FieldOwner("kubectl")); err != nil {
		t.Fatalf("scale %s/%s to %d: %v", ns, name, replicas, err)
	}
}

func replicasOf(t *testing.T, ns, name string) int32 {
	t.Helper()
	dep := &appsv1.Deployment{}
	if err := getObj(t, ns, name, dep); err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return *dep.Spec.Replicas
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// TestGitSyncSelfHealRevertsHandEdits: with selfHeal and an interval of an hour, a hand scale of a
// managed Deployment is reverted and a hand-deleted ConfigMap comes back, both within seconds (the
// live watch, not the interval), and the GitSync stays Synced throughout.
func TestGitSyncSelfHealRevertsHandEdits(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	rev := driftRepo(t, ns, true)

	scaleByHand(t, ns, "web", 5)
	took := waitFor(t, 10*time.Second, "the hand scale to be reverted", func() bool { return replicasOf(t, ns, "web") == 2 })
	t.Logf("hand scale reverted in %s", took)

	cm := &corev1.ConfigMap{}
	if err := getObj(t, ns, "settings", cm); err != nil {
		t.Fatal(err)
	}
	oldUID := cm.UID
	if err := env.client.Delete(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, 10*time.Second, "the deleted ConfigMap to come back", func() bool {
		back := &corev1.ConfigMap{}
		return getObj(t, ns, "settings", back) == nil && back.UID != oldUID && back.Data["key"] == "value"
	})
	t.Logf("deleted ConfigMap back in %s", took)

	gs := waitGitSync(t, ns, "app", 10*time.Second, "Synced after self-heal", syncedAt(rev))
	if len(gs.Status.History) != 1 {
		t.Errorf("self-heal ran full sync operations: history %+v", gs.Status.History)
	}
	waitFor(t, 10*time.Second, "a DriftReverted event naming the Deployment", func() bool {
		return hasEvent(t, ns, "DriftReverted", "Deployment "+ns+"/web")
	})
}

// TestGitSyncDriftReportedWithoutSelfHeal: without selfHeal a hand scale is left as it is and
// reported: OutOfSync with the object and its field; scaling back by hand reports Synced again.
func TestGitSyncDriftReportedWithoutSelfHeal(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	rev := driftRepo(t, ns, false)

	scaleByHand(t, ns, "web", 5)
	gs := waitGitSync(t, ns, "app", 10*time.Second, "OutOfSync naming the Deployment", func(gs *sluicev1alpha1.GitSync) bool {
		return gs.Status.Sync != nil && gs.Status.Sync.Status == sluicev1alpha1.SyncStatusOutOfSync &&
			strings.Contains(strings.Join(gs.Status.Sync.OutOfSync, "\n"), "Deployment "+ns+"/web: spec.replicas")
	})
	if got := replicasOf(t, ns, "web"); got != 5 {
		t.Errorf("without selfHeal the hand scale was reverted: replicas %d", got)
	}
	if !conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonOutOfSync)(gs) {
		t.Errorf("Synced condition does not say OutOfSync: %+v", gs.Status.Conditions)
	}
	scaleByHand(t, ns, "web", 2)
	waitGitSync(t, ns, "app", 10*time.Second, "Synced again after the hand scale back", syncedAt(rev))
}

// TestGitSyncBacksOffFromAFightingWriter: a second writer that sets a field back whenever the sync
// reverts it ends in the SelfHealBackoff condition naming its field manager, after a handful of
// reverts — not a loop — and the sync wins once it stops.
func TestGitSyncBacksOffFromAFightingWriter(t *testing.T) {
	startGitSyncController(t)
	ns := newNamespace(t)
	driftRepo(t, ns, true)

	var reverts atomic.Int32 // times the fighter saw Git's value back: the sync's reverts
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			cm := &corev1.ConfigMap{}
			if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "settings"}, cm); err == nil && cm.Data["key"] != "theirs" {
				if cm.Data["key"] == "value" {
					reverts.Add(1)
				}
				cm.Data["key"] = "theirs"
				if err := env.client.Update(context.Background(), cm, client.FieldOwner("fighter")); err != nil && !apierrors.IsConflict(err) {
					t.Errorf("fighter update: %v", err)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	gs := waitGitSync(t, ns, "app", 20*time.Second, "the SelfHealBackoff condition", conditionReason(sluicev1alpha1.ConditionSynced, sluicev1alpha1.ReasonSelfHealBackoff))
	msg := condMessage(gs, sluicev1alpha1.ConditionSynced)
	if !strings.Contains(msg, `"fighter"`) || !strings.Contains(msg, "ConfigMap "+ns+"/settings") {
		t.Errorf("back-off condition does not name the writer and the object: %q", msg)
	}
	// Keep fighting for 15s: with the back-off (2s, 6s, …) the sync reverts a handful of times;
	// a loop would revert every few tens of milliseconds (hundreds of times).
	fightUntil := time.Now().Add(15 * time.Second)
	for time.Now().Before(fightUntil) {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-done
	n := reverts.Load()
	t.Logf("the sync reverted the fighter's change %d times", n+1)
	if n < 3 || n > 8 {
		t.Errorf("the sync reverted %d times in ~17s of fighting; want the 3–4 before backing off and one per back-off", n+1)
	}
	waitFor(t, 60*time.Second, "Git's value back once the fighter stopped", func() bool {
		cm := &corev1.ConfigMap{}
		return getObj(t, ns, "settings", cm) == nil && cm.Data["key"] == "value"
	})
}

func condMessage(gs *sluicev1alpha1.GitSync, typ string) string {
	for _, c := range gs.Status.Conditions {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

// hasEvent reports whether an event with reason whose note contains text exists in ns.
func hasEvent(t *testing.T, ns, reason, text string) bool {
	t.Helper()
	list := &corev1.EventList{}
	if err := env.client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	for _, e := range list.Items {
		if e.Reason == reason && strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}
