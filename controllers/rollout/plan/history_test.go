package plan

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestRunHistory keeps the newest successful and unsuccessful AnalysisRuns of earlier updates
// within their limits and deletes the rest.
func TestRunHistory(t *testing.T) {
	ro := canaryRollout(2, weight(50))
	ro.Spec.Analysis = &v1alpha1.AnalysisRunStrategy{SuccessfulRunHistoryLimit: ptr.To[int32](2), UnsuccessfulRunHistoryLimit: ptr.To[int32](1)}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var finished []FinishedRun
	for i, ok := range []bool{true, false, true, true, false, true} {
		finished = append(finished, FinishedRun{Name: string(rune('a' + i)), Successful: ok, Created: base.Add(time.Duration(i) * time.Minute)})
	}
	w := newWorld(t, ro, "demo-canary", "demo-stable")
	obs := w.observe()
	obs.FinishedRuns = finished
	p := Next(ro, obs, base.Add(time.Hour))
	// Successful: f, d kept; c, a deleted. Unsuccessful: e kept; b deleted.
	got := map[string]bool{}
	for _, n := range p.DeleteRuns {
		got[n] = true
	}
	if len(got) != 3 || !got["a"] || !got["b"] || !got["c"] {
		t.Fatalf("deleted %v, want a, b and c", p.DeleteRuns)
	}
}
