package analysisrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/analysis/job"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/analysisrun"
)

// TestSecretsNeverLeaveTheRun: a Secret value substituted into a web metric's URL and header and
// a Prometheus address is in no measurement message or value, in neither the run's status nor
// its events, and in no log line; the messages name the URLs as the template wrote them.
func TestSecretsNeverLeaveTheRun(t *testing.T) {
	const token = `s3cr3t/tok+en"x`
	// The endpoint fails and echoes what it received, as error pages often do.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "bad request %s with key %s", r.URL.String(), r.Header.Get("X-Api-Key"))
	}))
	defer srv.Close()
	ns := newNamespace(t)
	createSecret(t, ns, "creds", map[string]string{"token": token})
	logs := startController(t, ns, nil)
	webURL := srv.URL + "/api?token={{args.token}}"
	createRun(t, ns, "leaky", v1alpha1.AnalysisRunSpec{
		Args: []v1alpha1.Argument{secretArg("token", "creds", "token")},
		Metrics: []v1alpha1.Metric{
			{
				Name: "web", ConsecutiveErrorLimit: count(0),
				Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
					URL:     webURL,
					Headers: []v1alpha1.WebMetricHeader{{Key: "X-Api-Key", Value: "{{args.token}}"}},
				}},
			},
			{
				Name: "prometheus", ConsecutiveErrorLimit: count(0), SuccessCondition: "result[0] < 1",
				Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{
					Address: "http://127.0.0.1:1/{{args.token}}", Query: "up",
				}},
			},
		},
	})
	run := waitPhase(t, ns, "leaky", 30*time.Second, v1alpha1.AnalysisPhaseError)
	forms := []string{token, url.QueryEscape(token), url.PathEscape(token), "s3cr3t"}
	status, _ := json.Marshal(run)
	if containsAny(string(status), forms...) {
		t.Errorf("the run holds the secret:\n%s", status)
	}
	web := run.Status.MetricResults[0]
	if len(web.Measurements) != 1 || !strings.HasPrefix(web.Measurements[0].Message, "GET "+webURL+": ") ||
		!strings.Contains(web.Measurements[0].Message, "with key *****") {
		t.Errorf("web measurement message %q: want the URL as written and the echoed key redacted", web.Measurements[0].Message)
	}
	if msg := run.Status.MetricResults[1].Measurements[0].Message; !strings.Contains(msg, "http://127.0.0.1:1/{{args.token}}") {
		t.Errorf("prometheus measurement message %q: want the address as written", msg)
	}
	var notes []string
	deadline := time.Now().Add(10 * time.Second)
	for len(notes) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		notes = eventNotes(t, ns, "leaky")
	}
	if len(notes) == 0 {
		t.Fatal("no event about the run")
	}
	for _, n := range notes {
		if containsAny(n, forms...) {
			t.Errorf("an event holds the secret: %s", n)
		}
	}
	if !strings.Contains(logs.String(), "Measured metric") {
		t.Fatalf("the controller's logs were not captured:\n%s", logs)
	}
	if containsAny(logs.String(), forms...) {
		t.Errorf("the logs hold the secret:\n%s", logs)
	}
}

// TestLargeValueIsCutAndEvaluatedWhole: a result far larger than a status can hold is judged
// on every element, stored cut to 1 KiB, and the message says so.
func TestLargeValueIsCutAndEvaluatedWhole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values := make([]float64, 20000)
		values[19999] = 0.5
		_ = json.NewEncoder(w).Encode(map[string]any{"values": values})
	}))
	defer srv.Close()
	ns := newNamespace(t)
	startController(t, ns, nil)
	createRun(t, ns, "large", v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
		Name: "all", SuccessCondition: "len(result) == 20000 && result[19999] == 0.5",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: srv.URL, JSONPath: "{$.values}"}},
	}}})
	run := waitPhase(t, ns, "large", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	m := run.Status.MetricResults[0].Measurements[0]
	if len(m.Value) > analysis.MaxValueBytes || !strings.HasSuffix(m.Value, analysis.TruncatedMarker) ||
		!strings.Contains(m.Message, "value truncated to 1024 of") {
		t.Fatalf("measurement value of %d bytes (%q...), message %q", len(m.Value), m.Value[:20], m.Message)
	}
}

// secretsWith returns an uncached reader of Secrets whose Gets fail with fail() while it returns
// an error.
func secretsWith(t *testing.T, fail func() error) client.Reader {
	t.Helper()
	base, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok {
				if err := fail(); err != nil {
					return err
				}
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
}

func okServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ratio":0.01}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func tokenRun(srv *httptest.Server, secret, key string) v1alpha1.AnalysisRunSpec {
	return v1alpha1.AnalysisRunSpec{
		Args: []v1alpha1.Argument{secretArg("token", secret, key)},
		Metrics: []v1alpha1.Metric{{Name: "ratio", SuccessCondition: "result < 0.05",
			Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: srv.URL + "/?t={{args.token}}", JSONPath: "{$.ratio}"}}}},
	}
}

// TestTransientSecretErrorIsRetried: an API server that fails to return a Secret for a while does
// not end the run; it succeeds once the Secret can be read.
func TestTransientSecretErrorIsRetried(t *testing.T) {
	srv := okServer(t)
	ns := newNamespace(t)
	createSecret(t, ns, "creds", map[string]string{"token": "t"})
	var failures atomic.Int32
	startController(t, ns, func(_ ctrl.Manager, r *analysisrun.AnalysisRunReconciler) {
		r.Secrets = secretsWith(t, func() error {
			if failures.Add(1) <= 5 {
				return apierrors.NewServiceUnavailable("etcd is busy")
			}
			return nil
		})
	})
	createRun(t, ns, "flaky", tokenRun(srv, "creds", "token"))
	waitPhase(t, ns, "flaky", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if failures.Load() <= 5 {
		t.Fatalf("the Secret was read %d times, want the 5 failures and a success", failures.Load())
	}
}

// TestMissingSecret: a missing key ends the run at once; a missing Secret ends it only after the
// grace, and a Secret created within the grace lets the run succeed.
func TestMissingSecret(t *testing.T) {
	srv := okServer(t)
	ns := newNamespace(t)
	createSecret(t, ns, "creds", map[string]string{"token": "t"})
	startController(t, ns, func(_ ctrl.Manager, r *analysisrun.AnalysisRunReconciler) { r.SecretMissingGrace = 3 * time.Second })

	createRun(t, ns, "no-key", tokenRun(srv, "creds", "nope"))
	run := waitPhase(t, ns, "no-key", 10*time.Second, v1alpha1.AnalysisPhaseError)
	if !strings.Contains(run.Status.Message, `has no key "nope"`) {
		t.Errorf("message %q", run.Status.Message)
	}

	start := time.Now()
	createRun(t, ns, "no-secret", tokenRun(srv, "absent", "token"))
	createRun(t, ns, "late-secret", tokenRun(srv, "late", "token"))
	time.Sleep(time.Second)
	createSecret(t, ns, "late", map[string]string{"token": "t"})
	waitPhase(t, ns, "late-secret", 20*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	run = waitPhase(t, ns, "no-secret", 20*time.Second, v1alpha1.AnalysisPhaseError)
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("a missing Secret ended the run after %s, before its grace of 3s", d)
	}
	if !strings.Contains(run.Status.Message, "not found") {
		t.Errorf("message %q", run.Status.Message)
	}
}

// TestTransientJobLookupStartsNoSecondJob: while the cache does not hold a Job that exists, or
// the API server fails to return it, the measurement stays Running and no second Job is created.
func TestTransientJobLookupStartsNoSecondJob(t *testing.T) {
	ns := newNamespace(t)
	var mode atomic.Value // "stale", "unavailable" or ""
	mode.Store("stale")
	var lookups atomic.Int32
	base, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	startController(t, ns, func(mgr ctrl.Manager, r *analysisrun.AnalysisRunReconciler) {
		// The Jobs' client answers as a cache that lags ("stale") or an API server that fails.
		jobs := interceptor.NewClient(base, interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*batchv1.Job); ok {
					lookups.Add(1)
					switch mode.Load() {
					case "stale":
						return apierrors.NewNotFound(schema.GroupResource{Group: "batch", Resource: "jobs"}, key.Name)
					case "unavailable":
						return apierrors.NewServiceUnavailable("apiserver is restarting")
					}
				}
				return c.Get(ctx, key, obj, opts...)
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
	for _, m := range []string{"stale", "unavailable"} {
		mode.Store(m)
		before := lookups.Load()
		// A change to the Job makes the controller look it up again.
		var list batchv1.JobList
		waitRun(t, ns, "job", 10*time.Second, "a Job", func(*v1alpha1.AnalysisRun) bool {
			_ = k8s.List(context.Background(), &list, client.InNamespace(ns))
			return len(list.Items) > 0
		})
		j := list.Items[0]
		patch := client.MergeFrom(j.DeepCopy())
		if j.Annotations == nil {
			j.Annotations = map[string]string{}
		}
		j.Annotations["touch"] = m
		if err := k8s.Patch(context.Background(), &j, patch); err != nil {
			t.Fatal(err)
		}
		waitRun(t, ns, "job", 10*time.Second, m+" lookups", func(*v1alpha1.AnalysisRun) bool { return lookups.Load() > before })
		time.Sleep(500 * time.Millisecond)
		run := getRun(t, ns, "job")
		res := run.Status.MetricResults
		if len(res) != 1 || len(res[0].Measurements) != 1 || res[0].Measurements[0].Phase != v1alpha1.AnalysisPhaseRunning || res[0].Error != 0 {
			t.Fatalf("%s lookup: metric results %+v, want one Running measurement", m, res)
		}
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
			t.Fatalf("%s lookup: %d Jobs (%v), want 1", m, len(list.Items), err)
		}
	}
}

// countingProvider counts its measurements; on the first it changes the run, so that the status
// write of that reconcile meets a conflict.
type countingProvider struct {
	calls atomic.Int32
}

func (p *countingProvider) Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric) v1alpha1.Measurement {
	if p.calls.Add(1) == 1 {
		var fresh v1alpha1.AnalysisRun
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(run), &fresh); err == nil {
			patch := client.MergeFrom(fresh.DeepCopy())
			fresh.Annotations = map[string]string{"touched": "yes"}
			_ = k8s.Patch(ctx, &fresh, patch)
		}
	}
	now := time.Now()
	return analysis.NewMeasurement(metric, now, 0.01, "0.01")
}

// TestConflictDoesNotMeasureTwice: a status write refused by a conflict is retried with the
// measurement already taken, not by calling the provider again.
func TestConflictDoesNotMeasureTwice(t *testing.T) {
	ns := newNamespace(t)
	p := &countingProvider{}
	logs := startController(t, ns, func(mgr ctrl.Manager, r *analysisrun.AnalysisRunReconciler) {
		r.Providers = analysisrun.DefaultProviders(mgr.GetClient(), mgr.GetAPIReader())
		r.Providers[analysis.ProviderWeb] = p
	})
	createRun(t, ns, "once", v1alpha1.AnalysisRunSpec{Metrics: []v1alpha1.Metric{{
		Name: "m", SuccessCondition: "result < 0.05",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://unused.invalid"}},
	}}})
	waitPhase(t, ns, "once", 30*time.Second, v1alpha1.AnalysisPhaseSuccessful)
	if !strings.Contains(logs.String(), "changed while it was measured") {
		t.Fatal("the status write met no conflict: the test did not test anything")
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("the provider measured %d times for one due measurement, want 1", n)
	}
}
