// Package job is the job metric provider: each measurement runs a Kubernetes Job owned by the
// AnalysisRun. Exit 0 (the Job completes) is Successful, a failed Job is Failed, and a pod that
// cannot pull its image is Inconclusive.
package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Labels, annotations and measurement metadata keys of the Jobs this provider creates; the
// names are Argo Rollouts'.
const (
	LabelRunUID          = "analysisrun.argoproj.io/uid"
	LabelMetricName      = "analysisrun.argoproj.io/metric-name"
	AnnotationRunName    = "analysisrun.argoproj.io/name"
	AnnotationMetricName = "analysisrun.argoproj.io/metric-name"
	MetadataJobName      = "job-name"
	MetadataJobNamespace = "job-namespace"
)

// ResumeInterval is the longest a Running measurement waits before its Job is checked again when
// no Job event arrives first.
const ResumeInterval = 10 * time.Second

// Provider runs job metrics.
type Provider struct {
	client   client.Client
	uncached client.Reader
	scheme   *runtime.Scheme
}

// New returns the job provider. c creates, reads and deletes Jobs (a cached client is fine when
// Jobs are watched); uncached lists a Job's pods to find image-pull failures (so that the
// controller does not cache every pod) and confirms that a Job the cache does not hold is gone.
func New(c client.Client, uncached client.Reader) *Provider {
	return &Provider{client: c, uncached: uncached, scheme: c.Scheme()}
}

var (
	_ analysis.MetricProvider   = (*Provider)(nil)
	_ analysis.Resumer          = (*Provider)(nil)
	_ analysis.Terminator       = (*Provider)(nil)
	_ analysis.GarbageCollector = (*Provider)(nil)
)

// Measure creates the measurement's Job and returns it Running. The Job's name is derived from
// the run, the metric and the measurement's index, so creating it again adopts the existing one.
func (p *Provider) Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric) v1alpha1.Measurement {
	started := time.Now()
	if metric.Provider.Job == nil {
		return analysis.NewErrorMeasurement(started, "", errors.New("metric has no job provider"))
	}
	job, err := p.newJob(run, metric)
	if err != nil {
		return analysis.NewErrorMeasurement(started, "build job", err)
	}
	if err := p.createJob(ctx, job); err != nil {
		return analysis.NewErrorMeasurement(started, "create job "+job.Name, err)
	}
	return v1alpha1.Measurement{
		Phase:     v1alpha1.AnalysisPhaseRunning,
		StartedAt: &metav1.Time{Time: started},
		ResumeAt:  &metav1.Time{Time: started.Add(ResumeInterval)},
		Metadata:  map[string]string{MetadataJobName: job.Name, MetadataJobNamespace: job.Namespace},
	}
}

// createRetries are the waits before the create of a measurement's Job is tried again after a
// transient failure.
var createRetries = []time.Duration{250 * time.Millisecond, 750 * time.Millisecond}

// createJob creates the measurement's Job, adopting one of the same name. A transient failure (a
// timeout, an unavailable or throttling API server) is tried again under the same name before
// it is given up: a create that timed out may still have made the Job, and an Error measurement
// moves the index on, so giving up at once could leave that Job running beside the next one.
func (p *Provider) createJob(ctx context.Context, job *batchv1.Job) error {
	for attempt := 0; ; attempt++ {
		err := p.client.Create(ctx, job.DeepCopy())
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if !transientCreateError(err) || attempt >= len(createRetries) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(createRetries[attempt]):
		}
	}
}

// transientCreateError reports whether a failed create may succeed when tried again unchanged.
func transientCreateError(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err) ||
		errors.Is(err, context.DeadlineExceeded)
}

func (p *Provider) newJob(run *v1alpha1.AnalysisRun, metric v1alpha1.Metric) (*batchv1.Job, error) {
	jm := metric.Provider.Job
	if problems := jm.TemplateProblems(); len(problems) > 0 {
		// The API server keeps what its schema does not check (a malformed quantity): a Job
		// built without it would measure something other than what was written.
		return nil, fmt.Errorf("job metric %s: invalid pod template: %s", metric.Name, strings.Join(problems, "; "))
	}
	labels := map[string]string{}
	for k, v := range jm.Metadata.Labels {
		labels[k] = v
	}
	labels[LabelRunUID] = string(run.UID)
	if len(validation.IsValidLabelValue(metric.Name)) == 0 {
		labels[LabelMetricName] = metric.Name
	}
	annotations := map[string]string{}
	for k, v := range jm.Metadata.Annotations {
		annotations[k] = v
	}
	annotations[AnnotationRunName], annotations[AnnotationMetricName] = run.Name, metric.Name
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        JobName(run, metric.Name, measurementIndex(run, metric.Name)),
			Namespace:   run.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: *jm.Spec.DeepCopy(),
	}
	if err := controllerutil.SetControllerReference(run, job, p.scheme); err != nil {
		return nil, fmt.Errorf("set owner of job %s: %w", job.Name, err)
	}
	return job, nil
}

// measurementIndex is the 1-based index of the measurement about to be taken.
func measurementIndex(run *v1alpha1.AnalysisRun, metricName string) int {
	for _, r := range run.Status.MetricResults {
		if r.Name == metricName {
			return int(r.Count+r.Error) + 1
		}
	}
	return 1
}

// JobName is "<run UID>.<metric>.<index>", as Argo Rollouts names them, with the metric name
// replaced by a hash when it is not a DNS label or the name would exceed 63 characters (the
// limit of the job-name label on the Job's pods).
func JobName(run *v1alpha1.AnalysisRun, metricName string, index int) string {
	name := fmt.Sprintf("%s.%s.%d", run.UID, metricName, index)
	if len(validation.IsDNS1123Label(metricName)) == 0 && len(name) <= validation.DNS1123LabelMaxLength {
		return name
	}
	sum := sha256.Sum256([]byte(metricName))
	return fmt.Sprintf("%s.%s.%d", run.UID, hex.EncodeToString(sum[:])[:10], index)
}

// Resume reads the measurement's Job and finishes the measurement when the Job has ended. A Job
// that is gone (confirmed by the uncached reader: the cache may not have it yet) ends the
// measurement in Error; a failure to read it leaves the measurement Running, to be checked
// again, so that a transient API error never starts a second Job.
func (p *Provider) Resume(ctx context.Context, _ *v1alpha1.AnalysisRun, _ v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	job, err := p.getJob(ctx, m)
	if apierrors.IsNotFound(err) {
		return finish(m, v1alpha1.AnalysisPhaseError, analysis.DescribeError(err))
	}
	if err != nil {
		return stillRunning(m, "checking the job again after: "+analysis.DescribeError(err))
	}
	if phase, msg, done := jobOutcome(job); done {
		return finish(m, phase, msg)
	}
	reason, err := p.imagePullFailure(ctx, job)
	if err != nil {
		return stillRunning(m, "checking the job's pods again after: "+analysis.DescribeError(err))
	}
	if reason != "" {
		if err := p.deleteJob(ctx, job); err != nil {
			return stillRunning(m, "deleting the job again after: "+analysis.DescribeError(err))
		}
		return finish(m, v1alpha1.AnalysisPhaseInconclusive, reason)
	}
	return stillRunning(m, "")
}

// stillRunning returns m Running with msg (why it is checked again, or "" when all is well).
// It keeps a look-again time that is still ahead: moving it on every Job event would make every
// event a status write.
func stillRunning(m v1alpha1.Measurement, msg string) v1alpha1.Measurement {
	m.Message = msg
	if now := time.Now(); m.ResumeAt == nil || !m.ResumeAt.After(now) {
		m.ResumeAt = &metav1.Time{Time: now.Add(ResumeInterval)}
	}
	return m
}

// Terminate deletes a Running measurement's Job. A Job that already ended gives its outcome;
// otherwise the measurement ends Successful with the message "metric terminated", as in Argo.
func (p *Provider) Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement {
	job, err := p.getJob(ctx, m)
	if apierrors.IsNotFound(err) {
		return finish(m, v1alpha1.AnalysisPhaseSuccessful, "metric terminated")
	}
	if err != nil {
		return finish(m, v1alpha1.AnalysisPhaseError, analysis.DescribeError(err))
	}
	if phase, msg, done := jobOutcome(job); done {
		return finish(m, phase, msg)
	}
	if err := p.deleteJob(ctx, job); err != nil {
		return finish(m, v1alpha1.AnalysisPhaseError, analysis.DescribeError(err))
	}
	return finish(m, v1alpha1.AnalysisPhaseSuccessful, "metric terminated")
}

// GarbageCollect deletes the metric's Jobs of this run beyond the newest keep.
func (p *Provider) GarbageCollect(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, keep int) error {
	var jobs batchv1.JobList
	if err := p.client.List(ctx, &jobs, client.InNamespace(run.Namespace), client.MatchingLabels{LabelRunUID: string(run.UID)}); err != nil {
		return fmt.Errorf("list jobs of analysis run %s: %w", run.Name, err)
	}
	var mine []batchv1.Job
	for _, j := range jobs.Items {
		if j.Annotations[AnnotationMetricName] == metric.Name && j.DeletionTimestamp == nil {
			mine = append(mine, j)
		}
	}
	if keep < 1 || len(mine) <= keep {
		return nil
	}
	slices.SortFunc(mine, func(a, b batchv1.Job) int { return jobIndex(b) - jobIndex(a) })
	for i := keep; i < len(mine); i++ {
		if err := p.deleteJob(ctx, &mine[i]); err != nil {
			return err
		}
	}
	return nil
}

// jobIndex reads the measurement index at the end of a Job's name.
func jobIndex(j batchv1.Job) int {
	for i := len(j.Name) - 1; i >= 0; i-- {
		if j.Name[i] == '.' {
			n, _ := strconv.Atoi(j.Name[i+1:])
			return n
		}
	}
	return 0
}

func (p *Provider) getJob(ctx context.Context, m v1alpha1.Measurement) (*batchv1.Job, error) {
	name, ns := m.Metadata[MetadataJobName], m.Metadata[MetadataJobNamespace]
	if name == "" {
		return nil, errors.New("measurement does not name its job")
	}
	key := client.ObjectKey{Namespace: ns, Name: name}
	var job batchv1.Job
	err := p.client.Get(ctx, key, &job)
	if apierrors.IsNotFound(err) && p.uncached != nil {
		// The cache may lag behind a Job just created: only the API server can say it is gone.
		err = p.uncached.Get(ctx, key, &job)
	}
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("job %s was deleted before it finished: %w", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", name, err)
	}
	return &job, nil
}

func (p *Provider) deleteJob(ctx context.Context, job *batchv1.Job) error {
	err := p.client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete job %s: %w", job.Name, err)
	}
	return nil
}

// jobOutcome reads a Job's final condition.
func jobOutcome(job *batchv1.Job) (phase v1alpha1.AnalysisPhase, msg string, done bool) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return v1alpha1.AnalysisPhaseSuccessful, "", true
		case batchv1.JobFailed:
			return v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("job %s failed: %s: %s", job.Name, c.Reason, c.Message), true
		}
	}
	return "", "", false
}

// imagePullFailure returns why a pod of the Job cannot pull its image, or "".
func (p *Provider) imagePullFailure(ctx context.Context, job *batchv1.Job) (string, error) {
	if p.uncached == nil {
		return "", nil
	}
	var pods corev1.PodList
	if err := p.uncached.List(ctx, &pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{batchv1.ControllerUidLabel: string(job.UID)}); err != nil {
		return "", fmt.Errorf("list pods of job %s: %w", job.Name, err)
	}
	for _, pod := range pods.Items {
		statuses := append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...)
		for _, s := range statuses {
			if w := s.State.Waiting; w != nil && isImagePullReason(w.Reason) {
				return fmt.Sprintf("job %s: container %s cannot pull image %s: %s: %s", job.Name, s.Name, s.Image, w.Reason, w.Message), nil
			}
		}
	}
	return "", nil
}

func isImagePullReason(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable":
		return true
	}
	return false
}

func finish(m v1alpha1.Measurement, phase v1alpha1.AnalysisPhase, msg string) v1alpha1.Measurement {
	m.Phase, m.Message, m.ResumeAt = phase, msg, nil
	m.FinishedAt = &metav1.Time{Time: time.Now()}
	return m
}
