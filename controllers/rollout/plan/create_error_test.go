package plan

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

const refusal = `ReplicaSet.apps "demo-x" is invalid: spec.template.spec.containers[0].name: Invalid value: "Bad_Name"`

// TestRefusedReplicaSetCreate: a new ReplicaSet the API server refuses is Progressing=False with
// reason ReplicaSetCreateError and the API server's message; the retries are not progress, so
// the progress deadline still ends it, counted from the last progress; the status never names a
// stable ReplicaSet that does not exist.
func TestRefusedReplicaSetCreate(t *testing.T) {
	for _, update := range []bool{false, true} {
		name := "first revision"
		if update {
			name = "update"
		}
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, canaryRollout(4, weight(25), pause("")), "demo-canary", "demo-stable")
			w.ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](20)
			w.refused = map[string]string{}
			stable := ""
			if update {
				w.settle(time.Minute)
				stable = w.ro.Status.StableRS
				w.setImage("app:2")
			}
			w.refused[PodTemplateHash(&w.ro.Spec.Template, nil)] = refusal
			start := w.now
			w.settle(10 * time.Second)

			c := condition(&w.ro.Status, v1alpha1.RolloutProgressing)
			if c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReplicaSetCreateErrorReason ||
				!strings.Contains(c.Message, `Failed to create new replica set "demo-`) || !strings.Contains(c.Message, refusal) ||
				strings.Contains(c.Message, "last action failed") {
				t.Fatalf("Progressing condition: %+v\n%s", c, w.log.String())
			}
			if w.ro.Status.Phase != v1alpha1.RolloutPhaseProgressing || !strings.HasPrefix(w.ro.Status.Message, ReplicaSetCreateErrorReason+": ") {
				t.Fatalf("phase %s %q", w.ro.Status.Phase, w.ro.Status.Message)
			}
			if w.ro.Status.StableRS != stable {
				t.Fatalf("stableRS %q, want %q (an existing ReplicaSet or none)", w.ro.Status.StableRS, stable)
			}
			if c.LastUpdateTime.After(start.Add(time.Second)) {
				t.Fatalf("the refused creates counted as progress: last progress %s, update at %s", c.LastUpdateTime, start)
			}

			w.settle(time.Minute)
			c = condition(&w.ro.Status, v1alpha1.RolloutProgressing)
			if w.ro.Status.Phase != v1alpha1.RolloutPhaseDegraded || c.Reason != v1alpha1.ProgressDeadlineExceededReason ||
				!strings.Contains(c.Message, refusal) {
				t.Fatalf("after the deadline: phase %s, condition %+v\n%s", w.ro.Status.Phase, c, w.log.String())
			}
			if d := c.LastUpdateTime.Sub(start); d < 20*time.Second || d > 22*time.Second {
				t.Fatalf("the deadline passed %s after the update, want 20 s\n%s", d, w.log.String())
			}

			// The API server accepts it again (say, an admission policy was lifted): it recovers.
			delete(w.refused, PodTemplateHash(&w.ro.Spec.Template, nil))
			w.note("the API server accepts the ReplicaSet")
			w.setImage("app:3")
			w.settle(time.Minute)
			if c := condition(&w.ro.Status, v1alpha1.RolloutProgressing); c.Reason == ReplicaSetCreateErrorReason || len(w.rss) == 0 {
				t.Fatalf("no recovery: %+v\n%s", c, w.log.String())
			}
		})
	}
}
