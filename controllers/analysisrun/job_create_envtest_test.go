package analysisrun_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/analysis/job"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/analysisrun"
)

// TestTimedOutJobCreateStartsNoSecondJob: the API server makes the measurement's Job but the
// create answers with a timeout (as when a response is lost). The measurement adopts that Job
// and stays Running: no Error is counted and no second Job starts.
func TestTimedOutJobCreateStartsNoSecondJob(t *testing.T) {
	ns := newNamespace(t)
	var creates atomic.Int32
	base, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	startController(t, ns, func(mgr ctrl.Manager, r *analysisrun.AnalysisRunReconciler) {
		jobs := interceptor.NewClient(base, interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if _, ok := obj.(*batchv1.Job); ok && creates.Add(1) == 1 {
					if err := c.Create(ctx, obj, opts...); err != nil {
						return err
					}
					return apierrors.NewServerTimeout(batchv1.Resource("jobs"), "create", 1)
				}
				return c.Create(ctx, obj, opts...)
			},
		})
		r.Providers = analysisrun.DefaultProviders(mgr.GetClient(), mgr.GetAPIReader())
		r.Providers[analysis.ProviderJob] = job.New(jobs, mgr.GetAPIReader())
	})
	createRun(t, ns, "job", v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
		Name: "check",
		Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "check", Image: "busybox"}}}},
		}}},
	}}})
	var run *v1alpha1.AnalysisRun
	waitRun(t, ns, "job", 20*time.Second, "a measurement", func(r *v1alpha1.AnalysisRun) bool {
		run = r
		res := r.Status.MetricResults
		return len(res) == 1 && len(res[0].Measurements) > 0
	})
	res := run.Status.MetricResults[0]
	if len(res.Measurements) != 1 || res.Measurements[0].Phase != v1alpha1.AnalysisPhaseRunning || res.Error != 0 {
		t.Fatalf("metric result %+v, want one Running measurement and no error", res)
	}
	if creates.Load() < 2 {
		t.Fatalf("%d Job creates: the timed-out create was not tried again", creates.Load())
	}
	var list batchv1.JobList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
		t.Fatalf("%d Jobs (%v), want 1", len(list.Items), err)
	}
	if got, want := res.Measurements[0].Metadata[job.MetadataJobName], list.Items[0].Name; got != want {
		t.Fatalf("the measurement names Job %q, the Job is %q", got, want)
	}
}
