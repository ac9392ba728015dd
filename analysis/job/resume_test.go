package job

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestResumeKeepsAPendingLookAgain: while the Job runs, Resume keeps a look-again time that is
// still ahead (so a Job event does not change the run's status) and sets a new one once it passed.
func TestResumeKeepsAPendingLookAgain(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	running := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "measure"}}
	p := New(fake.NewClientBuilder().WithScheme(scheme).WithObjects(running).Build(), nil)
	m := v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning,
		Metadata: map[string]string{MetadataJobName: "measure", MetadataJobNamespace: "ns"}}

	ahead := metav1.NewTime(time.Now().Add(5 * time.Second).Truncate(time.Second))
	m.ResumeAt = &ahead
	got := p.Resume(context.Background(), nil, v1alpha1.Metric{}, m)
	if got.Phase != v1alpha1.AnalysisPhaseRunning || got.ResumeAt == nil || !got.ResumeAt.Equal(&ahead) {
		t.Fatalf("pending look-again: got phase %s resumeAt %v, want Running at %v", got.Phase, got.ResumeAt, ahead)
	}

	passed := metav1.NewTime(time.Now().Add(-time.Second))
	m.ResumeAt = &passed
	before := time.Now()
	got = p.Resume(context.Background(), nil, v1alpha1.Metric{}, m)
	if got.ResumeAt == nil || got.ResumeAt.Time.Before(before.Add(ResumeInterval)) {
		t.Fatalf("passed look-again: got resumeAt %v, want at least %v", got.ResumeAt, before.Add(ResumeInterval))
	}
}
