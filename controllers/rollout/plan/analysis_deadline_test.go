package plan

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestRunThatIsNeverCreatedDoesNotHoldTheDeadline: a step analysis whose AnalysisRun the API
// server refuses to create is not "measuring": the progress deadline runs, and the Rollout goes
// Degraded with ProgressDeadlineExceeded instead of waiting for the run forever.
func TestRunThatIsNeverCreatedDoesNotHoldTheDeadline(t *testing.T) {
	ro := canaryRollout(2, weight(50), analysisStep("smoke"))
	ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](30)
	w := newWorld(t, ro, "demo-canary", "demo-stable")
	w.settle(time.Minute)
	w.runsRefused = true
	w.setImage("app:2")
	w.settle(10 * time.Minute)
	if c := condition(&w.ro.Status, v1alpha1.RolloutProgressing); c == nil || c.Reason != v1alpha1.ProgressDeadlineExceededReason {
		t.Fatalf("Progressing %+v, want ProgressDeadlineExceeded while the run is never created\n%s", c, w.log.String())
	}
	if w.ro.Status.Phase != v1alpha1.RolloutPhaseDegraded {
		t.Fatalf("phase %s, want Degraded", w.ro.Status.Phase)
	}
}
