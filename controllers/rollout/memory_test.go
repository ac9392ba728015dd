package rollout

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestMemoryFollowsTheRolloutNotItsName: what the reconciler remembers between reconciles (pause
// starts, pending counts, the defaulted template, the last execution error) is
// the Rollout's, by UID. A Rollout deleted and created again under the same name inherits none of
// it — also when the delete and the create reach the reconciler as one event and it never sees
// NotFound — and a Rollout that is gone leaves nothing behind.
func TestMemoryFollowsTheRolloutNotItsName(t *testing.T) {
	key := types.NamespacedName{Namespace: "shop", Name: "web"}
	other := types.NamespacedName{Namespace: "shop", Name: "api"}
	const first, second, neighbour types.UID = "uid-1", "uid-2", "uid-3"
	started := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	remember := func(r *Reconciler, key types.NamespacedName, uid types.UID) {
		r.track(key, uid)
		r.rememberPauses(uid, map[v1alpha1.PauseReason]time.Time{v1alpha1.PauseReasonCanaryPauseStep: {}}, started)
		r.pendingCounts.Store(uid, pending{since: started})
		r.defaults.Store(uid, defaulted{hash: "hash-1"})
		r.actionErrors.Store(uid, "patch Service web-stable: forbidden")
		r.expect.wroteRollout(key, "42")
		r.retries().When(key)
	}
	remembers := func(r *Reconciler, uid types.UID) []string {
		var held []string
		for name, m := range map[string]interface{ Load(any) (any, bool) }{
			"pauses": &r.pauses, "pendingCounts": &r.pendingCounts, "defaults": &r.defaults,
			"actionErrors": &r.actionErrors,
		} {
			if _, ok := m.Load(uid); ok {
				held = append(held, name)
			}
		}
		return held
	}

	t.Run("recreated under the same name without a NotFound in between", func(t *testing.T) {
		r := &Reconciler{}
		remember(r, key, first)
		remember(r, other, neighbour)
		if got := r.pauseStarts(key)[v1alpha1.PauseReasonCanaryPauseStep]; !got.Equal(started) {
			t.Fatalf("pause start of the first Rollout = %v, want %v", got, started)
		}

		r.track(key, second)
		if held := remembers(r, first); len(held) > 0 {
			t.Errorf("the replaced Rollout is still remembered in %v", held)
		}
		if got := r.pauseStarts(key); got != nil {
			t.Errorf("the new Rollout inherited pause starts %v", got)
		}
		if got := r.lastActionError(second); got != "" {
			t.Errorf("the new Rollout inherited the execution error %q", got)
		}
		if _, ok := r.expect.pending[key]; ok {
			t.Errorf("the new Rollout inherited the old one's write expectations")
		}
		if n := r.retries().NumRequeues(key); n != 0 {
			t.Errorf("the new Rollout inherited %d retries of backoff", n)
		}
		if held := remembers(r, neighbour); len(held) != 4 {
			t.Errorf("another Rollout lost its memory: only %v left", held)
		}
	})

	t.Run("the same Rollout keeps its memory", func(t *testing.T) {
		r := &Reconciler{}
		remember(r, key, first)
		r.track(key, first)
		if held := remembers(r, first); len(held) != 4 {
			t.Errorf("reconciling the same Rollout again dropped its memory: only %v left", held)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		r := &Reconciler{}
		remember(r, key, first)
		r.forget(key)
		if held := remembers(r, first); len(held) > 0 {
			t.Errorf("a deleted Rollout is still remembered in %v", held)
		}
		if _, ok := r.uids.Load(key); ok {
			t.Errorf("a deleted Rollout's name still maps to its UID")
		}
		if _, ok := r.expect.pending[key]; ok {
			t.Errorf("a deleted Rollout's write expectations are kept")
		}
	})
}
