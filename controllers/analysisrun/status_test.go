package analysisrun

import (
	"testing"
	"time"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func TestTTLExpiry(t *testing.T) {
	done := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	secs := func(n int32) *int32 { return &n }
	tests := []struct {
		name   string
		phase  v1alpha1.AnalysisPhase
		ttl    *v1alpha1.TTLStrategy
		want   time.Duration
		wantOK bool
	}{
		{"no strategy", v1alpha1.AnalysisPhaseSuccessful, nil, 0, false},
		{"completion", v1alpha1.AnalysisPhaseFailed, &v1alpha1.TTLStrategy{SecondsAfterCompletion: secs(60)}, time.Minute, true},
		{"success wins over completion", v1alpha1.AnalysisPhaseSuccessful,
			&v1alpha1.TTLStrategy{SecondsAfterCompletion: secs(60), SecondsAfterSuccess: secs(5)}, 5 * time.Second, true},
		{"failure covers error", v1alpha1.AnalysisPhaseError,
			&v1alpha1.TTLStrategy{SecondsAfterSuccess: secs(5), SecondsAfterFailure: secs(7)}, 7 * time.Second, true},
		{"failure covers inconclusive", v1alpha1.AnalysisPhaseInconclusive, &v1alpha1.TTLStrategy{SecondsAfterFailure: secs(7)}, 7 * time.Second, true},
		{"success only, run failed", v1alpha1.AnalysisPhaseFailed, &v1alpha1.TTLStrategy{SecondsAfterSuccess: secs(5)}, 0, false},
		{"still running", v1alpha1.AnalysisPhaseRunning, &v1alpha1.TTLStrategy{SecondsAfterCompletion: secs(1)}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &v1alpha1.AnalysisRun{Spec: v1alpha1.AnalysisRunSpec{TTLStrategy: tt.ttl},
				Status: v1alpha1.AnalysisRunStatus{Phase: tt.phase, CompletedAt: timePtr(done)}}
			got, ok := ttlExpiry(run)
			if ok != tt.wantOK || (ok && !got.Equal(done.Add(tt.want))) {
				t.Fatalf("ttlExpiry = %v, %v; want completion + %s, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRequeueAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if r := requeueAt(time.Time{}, now); r.RequeueAfter != 0 {
		t.Errorf("nothing due: %+v", r)
	}
	if r := requeueAt(now.Add(1500*time.Millisecond), now); r.RequeueAfter != 1500*time.Millisecond {
		t.Errorf("due in 1.5s: %+v", r)
	}
	if r := requeueAt(now.Add(-time.Second), now); r.RequeueAfter <= 0 {
		t.Errorf("overdue must still requeue: %+v", r)
	}
}
