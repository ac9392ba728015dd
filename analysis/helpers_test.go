package analysis

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

var timeZero = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(seconds float64) *metav1.Time {
	t := metav1.NewTime(timeZero.Add(time.Duration(seconds * float64(time.Second))))
	return &t
}

func intOrStr(n int) *intstr.IntOrString {
	v := intstr.FromInt32(int32(n))
	return &v
}

// measurements builds finished measurements, one per phase letter: S, F, I, E; R is Running.
func measurements(phases string) []v1alpha1.Measurement {
	var out []v1alpha1.Measurement
	for i, c := range phases {
		m := v1alpha1.Measurement{StartedAt: at(float64(i)), FinishedAt: at(float64(i) + 0.5)}
		switch c {
		case 'S':
			m.Phase = v1alpha1.AnalysisPhaseSuccessful
		case 'F':
			m.Phase = v1alpha1.AnalysisPhaseFailed
		case 'I':
			m.Phase = v1alpha1.AnalysisPhaseInconclusive
		case 'E':
			m.Phase, m.Message = v1alpha1.AnalysisPhaseError, "connection refused: boom"
		case 'R':
			m.Phase, m.FinishedAt = v1alpha1.AnalysisPhaseRunning, nil
		}
		out = append(out, m)
	}
	return out
}

// resultOf records the measurements in order, as the controller does.
func resultOf(name, phases string) v1alpha1.MetricResult {
	r := v1alpha1.MetricResult{Name: name}
	for _, m := range measurements(phases) {
		r = RecordMeasurement(r, m, 0)
	}
	return r
}
