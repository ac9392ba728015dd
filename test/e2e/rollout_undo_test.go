package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// undoTo does what `kubectl argo rollouts undo` does: it reads the ReplicaSet of hash back from
// the API server — its template as the API server stored it, defaulted — drops the hash label and
// puts that template into the Rollout with a JSON patch. It fails the test unless the template
// read back is really the defaulted one, so the test covers the case that matters.
func undoTo(t *testing.T, ns, name, hash string) *appsv1.ReplicaSet {
	t.Helper()
	ctx := context.Background()
	rs := replicaSetsOf(t, ns, name)[hash]
	if rs == nil {
		t.Fatalf("no ReplicaSet of hash %s to undo to", hash)
	}
	fresh := &appsv1.ReplicaSet{}
	if err := env.client.Get(ctx, client.ObjectKeyFromObject(rs), fresh); err != nil {
		t.Fatalf("read ReplicaSet %s: %v", rs.Name, err)
	}
	tmpl := fresh.Spec.Template.DeepCopy()
	if c := tmpl.Spec.Containers[0]; c.TerminationMessagePath == "" || c.ImagePullPolicy == "" || tmpl.Spec.SchedulerName == "" {
		t.Fatalf("ReplicaSet %s's template is not defaulted: %+v", rs.Name, tmpl.Spec)
	}
	delete(tmpl.Labels, v1alpha1.PodTemplateHashLabelKey)
	patch, err := json.Marshal([]map[string]any{{"op": "replace", "path": "/spec/template", "value": tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{}
	ro.Namespace, ro.Name = ns, name
	if err := env.client.Patch(ctx, ro, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		t.Fatalf("undo %s to %s: %v", name, hash, err)
	}
	return fresh
}

// podUIDs returns the UIDs of the pods of a Rollout's ReplicaSet of hash.
func podUIDs(t *testing.T, ns, name, hash string) []string {
	t.Helper()
	var pods corev1.PodList
	if err := env.client.List(context.Background(), &pods, client.InNamespace(ns),
		client.MatchingLabels{"app": name, v1alpha1.PodTemplateHashLabelKey: hash}); err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var uids []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			uids = append(uids, string(p.UID))
		}
	}
	sort.Strings(uids)
	return uids
}

func hashesOf(rss map[string]*appsv1.ReplicaSet) []string {
	var out []string
	for h := range rss {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// TestRolloutUndoCanaryReusesTheOldReplicaSet: undo of a canary to the previous revision, with
// the defaulted template read back from the API server, runs the steps on the old ReplicaSet
// (renumbered as the newest revision) and creates no ReplicaSet.
func TestRolloutUndoCanaryReusesTheOldReplicaSet(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	ro := newRolloutObject(ns, "undo", "app:1", 2, canarySteps(setWeight(50), pauseFor("1s")))
	if err := env.client.Create(ctx, ro); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	v1 := waitPhase(t, ns, "undo", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS
	setImage(t, ns, "undo", "app:2")
	eventually(t, 2*time.Minute, "the update to app:2 to finish", func() (bool, error) {
		cur := getRollout(t, ns, "undo")
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS != v1 &&
			cur.Status.ObservedGeneration == fmt.Sprint(cur.Generation), nil
	})
	before := replicaSetsOf(t, ns, "undo")
	old := undoTo(t, ns, "undo", v1)

	eventually(t, 2*time.Minute, "the undo to finish on the old ReplicaSet", func() (bool, error) {
		cur := getRollout(t, ns, "undo")
		if n := len(replicaSetsOf(t, ns, "undo")); n != len(before) {
			return false, fmt.Errorf("undo created a ReplicaSet: %v, before %v", hashesOf(replicaSetsOf(t, ns, "undo")), hashesOf(before))
		}
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS == v1 &&
			cur.Status.ObservedGeneration == fmt.Sprint(cur.Generation), nil
	})
	after := replicaSetsOf(t, ns, "undo")
	if got, want := hashesOf(after), hashesOf(before); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("ReplicaSets after the undo %v, before %v", got, want)
	}
	rs := after[v1]
	if rs.UID != old.UID || specOf(rs) != 2 {
		t.Fatalf("the old ReplicaSet was not reused at full size: uid %s (was %s), replicas %d", rs.UID, old.UID, specOf(rs))
	}
	if got := rs.Annotations[v1alpha1.RevisionAnnotationKey]; got != "3" {
		t.Fatalf("revision of the reused ReplicaSet: %q, want 3", got)
	}
}

// TestRolloutUndoBlueGreenIsAnInstantRollback: undo of a blue-green inside the scale-down window,
// with the defaulted template read back from the API server, switches the active Service back to
// the old pods at once: no new ReplicaSet or pod, and no promotion pause.
func TestRolloutUndoBlueGreenIsAnInstantRollback(t *testing.T) {
	ctx := context.Background()
	startManager(t, setupRollout)
	ns := newNamespace(t)
	newService(t, ns, "bg-active", "bg")
	newService(t, ns, "bg-preview", "bg")
	ro := newRolloutObject(ns, "bg", "app:1", 3, v1alpha1.RolloutStrategy{BlueGreen: &v1alpha1.BlueGreenStrategy{
		ActiveService: "bg-active", PreviewService: "bg-preview", AutoPromotionEnabled: ptr.To(false),
		ScaleDownDelaySeconds: ptr.To[int32](300),
	}})
	if err := env.client.Create(ctx, ro); err != nil {
		t.Fatalf("create Rollout: %v", err)
	}
	v1 := waitPhase(t, ns, "bg", v1alpha1.RolloutPhaseHealthy, time.Minute).Status.StableRS
	setImage(t, ns, "bg", "app:2")
	waitPhase(t, ns, "bg", v1alpha1.RolloutPhasePaused, time.Minute)
	patchStatus(t, ns, "bg", `{"status":{"pauseConditions":null}}`)
	eventually(t, time.Minute, "the promotion to app:2", func() (bool, error) {
		cur := getRollout(t, ns, "bg")
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS != v1 &&
			serviceHash(t, ns, "bg-active") == cur.Status.StableRS, nil
	})
	eventually(t, 30*time.Second, "the old ReplicaSet to wait out its delay with its pods", func() (bool, error) {
		rs := replicaSetsOf(t, ns, "bg")[v1]
		return specOf(rs) == 3 && rs.Status.AvailableReplicas == 3 && rs.Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey] != "", nil
	})
	before := replicaSetsOf(t, ns, "bg")
	pods := podUIDs(t, ns, "bg", v1)
	undoTo(t, ns, "bg", v1)

	eventually(t, 30*time.Second, "the active Service back on the old pods", func() (bool, error) {
		cur := getRollout(t, ns, "bg")
		if cur.Status.Phase == v1alpha1.RolloutPhasePaused || len(cur.Status.PauseConditions) > 0 {
			return false, fmt.Errorf("undo inside the window paused for promotion: %+v", cur.Status.PauseConditions)
		}
		if n := len(replicaSetsOf(t, ns, "bg")); n != len(before) {
			return false, fmt.Errorf("undo created a ReplicaSet: %v", hashesOf(replicaSetsOf(t, ns, "bg")))
		}
		return cur.Status.Phase == v1alpha1.RolloutPhaseHealthy && cur.Status.StableRS == v1 &&
			cur.Status.ObservedGeneration == fmt.Sprint(cur.Generation) && serviceHash(t, ns, "bg-active") == v1, nil
	})
	if got := podUIDs(t, ns, "bg", v1); strings.Join(got, ",") != strings.Join(pods, ",") {
		t.Fatalf("the rollback replaced pods: before %v, after %v", pods, got)
	}
	if got := replicaSetsOf(t, ns, "bg")[v1].Annotations[v1alpha1.ScaleDownDeadlineAnnotationKey]; got != "" {
		t.Fatalf("the active ReplicaSet keeps a scale-down deadline %q", got)
	}
}
