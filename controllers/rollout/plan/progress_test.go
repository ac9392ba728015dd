package plan

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestProgressDatesFromDeferredCounts: when the reconciler holds back a change of replica counts
// (to write it with the next transition), the progress it stands for dates from when the counts
// changed, not from when they are finally written, so the progress deadline does not move.
func TestProgressDatesFromDeferredCounts(t *testing.T) {
	ro := canaryRollout(2, weight(50))
	w := newWorld(t, ro)
	w.settle(time.Minute)
	w.setImage("app:2")
	w.slow[PodTemplateHash(&w.ro.Spec.Template, nil)] = true // the canary pod never becomes available
	w.settle(10 * time.Second)
	if w.ro.Status.Phase != v1alpha1.RolloutPhaseProgressing {
		t.Fatalf("phase %s, want Progressing while the canary pod starts", w.ro.Status.Phase)
	}
	before := condition(&w.ro.Status, v1alpha1.RolloutProgressing).LastUpdateTime.Time

	// The canary pod turns ready (not yet available): only counts change.
	plan := func(pending *Counts, changedAt time.Time) time.Time {
		t.Helper()
		obs := w.observe()
		for i, rs := range obs.ReplicaSets {
			if rs == obs.NewRS {
				c := rs.DeepCopy()
				c.Status.ReadyReplicas = 1
				obs.ReplicaSets[i], obs.NewRS = c, c
			}
		}
		obs.PendingCounts, obs.CountsChangedAt = pending, changedAt
		p := Next(w.ro.DeepCopy(), obs, w.now)
		if len(p.Create)+len(p.Scale)+len(p.Selectors) > 0 {
			t.Fatalf("want a plan that only moves counts, got creates %d scales %d selectors %d", len(p.Create), len(p.Scale), len(p.Selectors))
		}
		if p.Status.ReadyReplicas != w.ro.Status.ReadyReplicas+1 {
			t.Fatalf("ready replicas %d, want %d", p.Status.ReadyReplicas, w.ro.Status.ReadyReplicas+1)
		}
		return condition(&p.Status, v1alpha1.RolloutProgressing).LastUpdateTime.Time
	}
	if !before.Before(w.now) {
		t.Fatalf("test set-up: last progress %s is not before now %s", before, w.now)
	}
	w.now = w.now.Add(20 * time.Second)
	changedAt := w.now.Add(-15 * time.Second)
	same := CountsOf(&w.ro.Status)
	same.Ready++
	if got := plan(&same, changedAt); !got.Equal(changedAt) {
		t.Errorf("progress held back since %s dated %s, want %s", changedAt, got, changedAt)
	}
	// The counts held back were others (a pod became ready since): that progress is now.
	older := CountsOf(&w.ro.Status)
	if got := plan(&older, changedAt); !got.Equal(w.now) {
		t.Errorf("progress beyond the held-back counts dated %s, want now %s", got, w.now)
	}
	if got := plan(nil, time.Time{}); !got.Equal(w.now) {
		t.Errorf("progress with nothing held back dated %s, want now %s", got, w.now)
	}
}
