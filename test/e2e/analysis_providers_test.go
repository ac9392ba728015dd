package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/analysis/job"
	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// ratioServer serves {"data":{"ratio":R}} and counts the POSTs that carry the expected body.
func ratioServer(t *testing.T, ratio float64) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		if r.Method == http.MethodPost && json.NewDecoder(r.Body).Decode(&body) == nil && body["service"] == "checkout" &&
			r.Header.Get("X-Team") == "payments" {
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"ratio": ratio}})
	}))
	t.Cleanup(srv.Close)
	return srv, &posts
}

// (d) A web metric reads a value from a local HTTP server with a JSONPath.
func TestAnalysisWebMetric(t *testing.T) {
	srv, posts := ratioServer(t, 0.01)
	ns := newNamespace(t)
	startAnalysisController(t)
	name := createAnalysisRun(t, ns, "web", rolloutsv1alpha1.AnalysisRunSpec{
		Args: []rolloutsv1alpha1.Argument{{Name: "service", Value: analysisPtr("checkout")}},
		Metrics: []rolloutsv1alpha1.Metric{{
			Name: "ratio", Interval: "1s", Count: analysisIntOrString(2), SuccessCondition: "result < 0.05",
			Provider: rolloutsv1alpha1.MetricProvider{Web: &rolloutsv1alpha1.WebMetric{
				URL:      srv.URL + "/api/ratio?service={{args.service}}",
				Method:   rolloutsv1alpha1.WebMetricMethodPost,
				Headers:  []rolloutsv1alpha1.WebMetricHeader{{Key: "X-Team", Value: "payments"}},
				JSONBody: analysisRawJSON(`{"service":"{{args.service}}"}`),
				JSONPath: "{$.data.ratio}",
			}},
		}},
	})
	run := waitAnalysisPhase(t, ns, name, 30*time.Second, rolloutsv1alpha1.AnalysisPhaseSuccessful)
	checkAnalysisFinished(t, run)
	r := analysisMetricResult(run, "ratio")
	if r.Successful != 2 || len(r.Measurements) != 2 || r.Measurements[0].Value != "0.01" {
		t.Fatalf("metric result = %+v, want 2 successful measurements of 0.01", r)
	}
	if posts.Load() != 2 {
		t.Errorf("server saw %d POSTs with the substituted body and header, want 2", posts.Load())
	}
}

// (e) A job metric runs a Job owned by the run; kwok completes its pod with exit 0.
func TestAnalysisJobMetric(t *testing.T) {
	ns := newNamespace(t)
	startAnalysisController(t)
	name := createAnalysisRun(t, ns, "job", rolloutsv1alpha1.AnalysisRunSpec{
		Metrics: []rolloutsv1alpha1.Metric{{
			Name: "smoke",
			Provider: rolloutsv1alpha1.MetricProvider{Job: &rolloutsv1alpha1.JobMetric{
				Metadata: rolloutsv1alpha1.JobMetadata{Labels: map[string]string{"team": "payments"}},
				Spec: batchv1.JobSpec{
					BackoffLimit: analysisPtr(int32(0)),
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{{Name: "smoke", Image: "busybox", Command: []string{"sh", "-c", "exit 0"}}},
					}},
				},
			}},
		}},
	})
	run := waitAnalysisPhase(t, ns, name, 90*time.Second, rolloutsv1alpha1.AnalysisPhaseSuccessful)
	checkAnalysisFinished(t, run)
	r := analysisMetricResult(run, "smoke")
	if r.Successful != 1 || len(r.Measurements) != 1 {
		t.Fatalf("metric result = %+v, want one successful measurement", r)
	}
	jobName := r.Measurements[0].Metadata[job.MetadataJobName]
	var j batchv1.Job
	if err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: jobName}, &j); err != nil {
		t.Fatalf("get job %q named by the measurement: %v", jobName, err)
	}
	owner := metav1ControllerOf(&j)
	if owner == nil || owner.Kind != "AnalysisRun" || owner.UID != run.UID {
		t.Errorf("job owner = %+v, want the AnalysisRun", owner)
	}
	if j.Labels[job.LabelRunUID] != string(run.UID) || j.Labels["team"] != "payments" || j.Annotations[job.AnnotationMetricName] != "smoke" {
		t.Errorf("job labels %v, annotations %v", j.Labels, j.Annotations)
	}
}

// spec.terminate stops a metric that runs until terminated, and ttlStrategy deletes the run.
func TestAnalysisTerminateAndTTL(t *testing.T) {
	srv, _ := ratioServer(t, 0.01)
	ns := newNamespace(t)
	startAnalysisController(t)
	name := createAnalysisRun(t, ns, "forever", rolloutsv1alpha1.AnalysisRunSpec{
		TTLStrategy: &rolloutsv1alpha1.TTLStrategy{SecondsAfterSuccess: analysisPtr(int32(2))},
		Metrics: []rolloutsv1alpha1.Metric{{
			Name: "ratio", Interval: "1s", SuccessCondition: "result < 0.05",
			Provider: rolloutsv1alpha1.MetricProvider{Web: &rolloutsv1alpha1.WebMetric{URL: srv.URL, JSONPath: "{$.data.ratio}"}},
		}},
	})
	waitAnalysisRun(t, ns, name, 30*time.Second, "three measurements", func(r *rolloutsv1alpha1.AnalysisRun) bool {
		return analysisMetricResult(r, "ratio").Count >= 3
	})
	run, err := getAnalysisRun(ns, name)
	if err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(run.DeepCopy())
	run.Spec.Terminate = true
	if err := env.client.Patch(context.Background(), run, patch); err != nil {
		t.Fatalf("terminate run: %v", err)
	}
	run = waitAnalysisPhase(t, ns, name, 30*time.Second, rolloutsv1alpha1.AnalysisPhaseSuccessful)
	checkAnalysisFinished(t, run)
	if !strings.Contains(run.Status.Message, "terminated") {
		t.Errorf("message = %q, want it to say the run was terminated", run.Status.Message)
	}
	completed := run.Status.CompletedAt.Time
	eventually(t, 30*time.Second, "the run to be deleted by its TTL", func() (bool, error) {
		_, err := getAnalysisRun(ns, name)
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if gone := time.Since(completed); gone < 2*time.Second {
		t.Errorf("run deleted %s after completion, before its 2s TTL", gone)
	}
}

// A Job whose pod cannot pull its image makes the measurement Inconclusive. kwok never pulls
// images, so the pod is kept off the kwok nodes and the test writes the kubelet's status itself.
func TestAnalysisJobImagePullInconclusive(t *testing.T) {
	ns := newNamespace(t)
	startAnalysisController(t)
	name := createAnalysisRun(t, ns, "pull", rolloutsv1alpha1.AnalysisRunSpec{
		Metrics: []rolloutsv1alpha1.Metric{{
			Name: "smoke",
			Provider: rolloutsv1alpha1.MetricProvider{Job: &rolloutsv1alpha1.JobMetric{Spec: batchv1.JobSpec{
				BackoffLimit: analysisPtr(int32(0)),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					NodeSelector:  map[string]string{"sluice.dev/no-such-node": "true"},
					Containers:    []corev1.Container{{Name: "smoke", Image: "registry.invalid/nope:1"}},
				}},
			}}},
		}},
	})
	var pod corev1.Pod
	eventually(t, 30*time.Second, "the job's pod", func() (bool, error) {
		var pods corev1.PodList
		if err := env.client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
			return false, err
		}
		if len(pods.Items) == 0 {
			return false, nil
		}
		pod = pods.Items[0]
		return true, nil
	})
	// The scheduler writes the pod's status too (PodScheduled): retry on conflicts with it.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.client.Get(context.Background(), client.ObjectKeyFromObject(&pod), &pod); err != nil {
			return err
		}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "smoke", Image: "registry.invalid/nope:1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}},
		}}
		return env.client.Status().Update(context.Background(), &pod)
	})
	if err != nil {
		t.Fatalf("write the pod's image pull status: %v", err)
	}
	run := waitAnalysisPhase(t, ns, name, 60*time.Second, rolloutsv1alpha1.AnalysisPhaseInconclusive)
	checkAnalysisFinished(t, run)
	m := analysisMetricResult(run, "smoke").Measurements[0]
	if m.Phase != rolloutsv1alpha1.AnalysisPhaseInconclusive || !strings.Contains(m.Message, "cannot pull image registry.invalid/nope:1: ImagePullBackOff") {
		t.Errorf("measurement = %s %q, want Inconclusive naming the image pull failure", m.Phase, m.Message)
	}
	if want := `metric "smoke" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)`; run.Status.Message != want {
		t.Errorf("message = %q, want %q", run.Status.Message, want)
	}
	eventually(t, 30*time.Second, "the job to be deleted", func() (bool, error) {
		var j batchv1.Job
		err := env.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: m.Metadata[job.MetadataJobName]}, &j)
		return apierrors.IsNotFound(err) || (err == nil && j.DeletionTimestamp != nil), client.IgnoreNotFound(err)
	})
}
