package v1alpha1

import (
	batchv1 "k8s.io/api/batch/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=analysistemplates,shortName=at
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AnalysisTemplate is a reusable set of metrics that AnalysisRuns are built from.
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// AnalysisTemplateList is a list of AnalysisTemplates.
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisTemplate `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=clusteranalysistemplates,shortName=cat,scope=Cluster
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ClusterAnalysisTemplate is an AnalysisTemplate usable from every namespace.
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAnalysisTemplate `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=analysisruns,shortName=ar
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`,description="AnalysisRun phase"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// AnalysisRun measures metrics until they succeed, fail, or the run is terminated.
type AnalysisRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AnalysisRunSpec   `json:"spec"`
	Status AnalysisRunStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AnalysisRunList is a list of AnalysisRuns.
type AnalysisRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisRun `json:"items"`
}

func init() {
	register(
		&AnalysisTemplate{}, &AnalysisTemplateList{},
		&ClusterAnalysisTemplate{}, &ClusterAnalysisTemplateList{},
		&AnalysisRun{}, &AnalysisRunList{},
	)
}

// AnalysisTemplateSpec is the content of an AnalysisTemplate or ClusterAnalysisTemplate.
type AnalysisTemplateSpec struct {
	// Metrics are measured by runs built from this template. A map list keyed by name, which
	// also lets the API server correlate items for the CEL rules that the Job schema carries.
	// +optional
	// +listType=map
	// +listMapKey=name
	Metrics []Metric `json:"metrics"`
	// Args are the template's arguments, referenced as {{args.NAME}}.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// DryRun lists metrics whose failures do not fail the run ("*" for all).
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements are kept per metric.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// Templates nests other templates; accepted so manifests decode, but not supported.
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
}

// AnalysisRunSpec is the desired state of an AnalysisRun.
type AnalysisRunSpec struct {
	// Metrics are the metrics to measure, keyed by name.
	// +listType=map
	// +listMapKey=name
	Metrics []Metric `json:"metrics"`
	// Args are the resolved arguments of the run.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// Terminate asks the controller to stop the run early.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// DryRun lists metrics whose failures do not fail the run ("*" for all).
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements are kept per metric.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// TTLStrategy deletes the run some time after it finishes.
	// +optional
	TTLStrategy *TTLStrategy `json:"ttlStrategy,omitempty"`
}

// TTLStrategy says how long a finished AnalysisRun is kept.
type TTLStrategy struct {
	// SecondsAfterCompletion applies to every finished run.
	// +optional
	SecondsAfterCompletion *int32 `json:"secondsAfterCompletion,omitempty"`
	// SecondsAfterFailure applies to runs that did not succeed.
	// +optional
	SecondsAfterFailure *int32 `json:"secondsAfterFailure,omitempty"`
	// SecondsAfterSuccess applies to successful runs.
	// +optional
	SecondsAfterSuccess *int32 `json:"secondsAfterSuccess,omitempty"`
}

// Argument is a named argument of an analysis template or run.
type Argument struct {
	Name string `json:"name"`
	// Value is a literal value; nil means the caller must supply one.
	// +optional
	Value *string `json:"value,omitempty"`
	// ValueFrom takes the value from a Secret or a field.
	// +optional
	ValueFrom *ValueFrom `json:"valueFrom,omitempty"`
}

// ValueFrom is where an Argument's value comes from; exactly one field is set.
type ValueFrom struct {
	// +optional
	SecretKeyRef *SecretKeyRef `json:"secretKeyRef,omitempty"`
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// SecretKeyRef is a key of a Secret in the run's namespace.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// DryRun names a metric (or "*") evaluated without affecting the run's phase.
type DryRun struct {
	MetricName string `json:"metricName"`
}

// MeasurementRetention sets how many measurements of a metric (or "*") are kept.
type MeasurementRetention struct {
	MetricName string `json:"metricName"`
	Limit      int32  `json:"limit"`
}

// DurationString is a Go duration string such as "30s", "5m" or "1h".
type DurationString string

// Metric is one thing an AnalysisRun measures, and how results are judged.
type Metric struct {
	// Name of the metric, unique in the run.
	Name string `json:"name"`
	// Interval between measurements; without it a single measurement is taken.
	// +optional
	Interval DurationString `json:"interval,omitempty"`
	// InitialDelay before the first measurement.
	// +optional
	InitialDelay DurationString `json:"initialDelay,omitempty"`
	// Count is the number of measurements; unset with an interval means until terminated.
	// +optional
	Count *intstr.IntOrString `json:"count,omitempty"`
	// SuccessCondition is an expression over `result` that marks a measurement Successful.
	// +optional
	SuccessCondition string `json:"successCondition,omitempty"`
	// FailureCondition is an expression over `result` that marks a measurement Failed.
	// +optional
	FailureCondition string `json:"failureCondition,omitempty"`
	// FailureLimit is how many failed measurements are tolerated (default 0; -1 = no limit).
	// +optional
	FailureLimit *intstr.IntOrString `json:"failureLimit,omitempty"`
	// InconclusiveLimit is how many inconclusive measurements are tolerated (default 0).
	// +optional
	InconclusiveLimit *intstr.IntOrString `json:"inconclusiveLimit,omitempty"`
	// ConsecutiveErrorLimit is how many errors in a row are tolerated (default 4).
	// +optional
	ConsecutiveErrorLimit *intstr.IntOrString `json:"consecutiveErrorLimit,omitempty"`
	// ConsecutiveSuccessLimit ends the metric as Successful after this many successes in a row
	// (default 0 = off).
	// +optional
	ConsecutiveSuccessLimit *intstr.IntOrString `json:"consecutiveSuccessLimit,omitempty"`
	// Provider is the system that takes the measurement.
	Provider MetricProvider `json:"provider"`
}

// MetricProvider is the source of a metric; exactly one field is set. Only prometheus, web and
// job are supported; the others decode so that a run can name them in its error.
type MetricProvider struct {
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	// +optional
	Web *WebMetric `json:"web,omitempty"`
	// +optional
	Job *JobMetric `json:"job,omitempty"`

	// +optional
	// +kubebuilder:validation:Type=object
	Kayenta *apiextensionsv1.JSON `json:"kayenta,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	Datadog *apiextensionsv1.JSON `json:"datadog,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	Wavefront *apiextensionsv1.JSON `json:"wavefront,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	NewRelic *apiextensionsv1.JSON `json:"newRelic,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	CloudWatch *apiextensionsv1.JSON `json:"cloudWatch,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	Graphite *apiextensionsv1.JSON `json:"graphite,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	Influxdb *apiextensionsv1.JSON `json:"influxdb,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	SkyWalking *apiextensionsv1.JSON `json:"skywalking,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=object
	Plugin *apiextensionsv1.JSON `json:"plugin,omitempty"`
}

// PrometheusMetric queries Prometheus.
type PrometheusMetric struct {
	// Address is the Prometheus base URL.
	// +optional
	Address string `json:"address,omitempty"`
	// Query is the PromQL query.
	// +optional
	Query string `json:"query,omitempty"`
	// Authentication for the Prometheus server.
	// +optional
	Authentication *Authentication `json:"authentication,omitempty"`
	// Timeout of the query in seconds (default 30).
	// +optional
	Timeout *int64 `json:"timeout,omitempty"`
	// Insecure skips TLS verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// Headers are added to the request.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// RangeQuery makes the query a range query.
	// +optional
	RangeQuery *PrometheusRangeQueryArgs `json:"rangeQuery,omitempty"`
}

// PrometheusRangeQueryArgs are the bounds and step of a range query, as expressions.
type PrometheusRangeQueryArgs struct {
	// +optional
	Start string `json:"start,omitempty"`
	// +optional
	End string `json:"end,omitempty"`
	// +optional
	Step string `json:"step,omitempty"`
}

// Authentication holds the credentials for a metric source; at most one method is set.
type Authentication struct {
	// +optional
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`
	// +optional
	OAuth2 *OAuth2Config `json:"oauth2,omitempty"`
	// Sigv4 is accepted so manifests decode, but not supported.
	// +optional
	Sigv4 *Sigv4Config `json:"sigv4,omitempty"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	// +optional
	Username string `json:"username,omitempty"`
	// +optional
	Password string `json:"password,omitempty"`
}

// OAuth2Config is the OAuth2 client-credentials flow.
type OAuth2Config struct {
	// +optional
	TokenURL string `json:"tokenUrl,omitempty"`
	// +optional
	ClientID string `json:"clientId,omitempty"`
	// +optional
	ClientSecret string `json:"clientSecret,omitempty"`
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// Sigv4Config is AWS SigV4 request signing.
type Sigv4Config struct {
	// +optional
	Region string `json:"region,omitempty"`
	// +optional
	Profile string `json:"profile,omitempty"`
	// +optional
	RoleARN string `json:"roleArn,omitempty"`
}

// WebMetricMethod is an HTTP method of a web metric.
type WebMetricMethod string

// Web metric methods.
const (
	WebMetricMethodGet  WebMetricMethod = "GET"
	WebMetricMethodPost WebMetricMethod = "POST"
	WebMetricMethodPut  WebMetricMethod = "PUT"
)

// WebMetric calls an HTTP endpoint and reads a value from its JSON response.
type WebMetric struct {
	// Method is GET (default), POST or PUT.
	// +optional
	Method WebMetricMethod `json:"method,omitempty"`
	// URL to call.
	URL string `json:"url"`
	// Headers are added to the request.
	// +optional
	Headers []WebMetricHeader `json:"headers,omitempty"`
	// Body is a string request body (POST or PUT).
	// +optional
	Body string `json:"body,omitempty"`
	// TimeoutSeconds of the request (default 10).
	// +optional
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
	// JSONPath selects the result from the response (default "{$}").
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`
	// Insecure skips TLS verification.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// JSONBody is a JSON request body (POST or PUT).
	// +optional
	// +kubebuilder:validation:Type=object
	JSONBody *apiextensionsv1.JSON `json:"jsonBody,omitempty"`
	// Authentication for the endpoint.
	// +optional
	Authentication *Authentication `json:"authentication,omitempty"`
}

// WebMetricHeader is one HTTP header.
type WebMetricHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// JobMetric runs a Job; exit code 0 is a successful measurement.
type JobMetric struct {
	// Metadata is added to the Job.
	// +optional
	Metadata JobMetadata `json:"metadata,omitzero"`
	// Spec of the Job.
	Spec batchv1.JobSpec `json:"spec"`

	// templateProblems is what kept Spec.Template from decoding as written (see
	// TemplateProblems).
	templateProblems []string `json:"-"`
}

// JobMetadata is the labels and annotations of a JobMetric's Job.
type JobMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// AnalysisPhase is the phase of an AnalysisRun, a metric or a measurement.
type AnalysisPhase string

// Analysis phases.
const (
	AnalysisPhasePending      AnalysisPhase = "Pending"
	AnalysisPhaseRunning      AnalysisPhase = "Running"
	AnalysisPhaseSuccessful   AnalysisPhase = "Successful"
	AnalysisPhaseFailed       AnalysisPhase = "Failed"
	AnalysisPhaseError        AnalysisPhase = "Error"
	AnalysisPhaseInconclusive AnalysisPhase = "Inconclusive"
)

// AnalysisRunStatus is the observed state of an AnalysisRun.
type AnalysisRunStatus struct {
	// Phase of the run.
	Phase AnalysisPhase `json:"phase"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// MetricResults holds one entry per metric.
	// +optional
	MetricResults []MetricResult `json:"metricResults,omitempty"`
	// StartedAt is when the run started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// CompletedAt is when the run finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// RunSummary counts the metrics by phase.
	// +optional
	RunSummary RunSummary `json:"runSummary,omitempty"`
	// DryRunSummary counts the dry-run metrics by phase.
	// +optional
	DryRunSummary *RunSummary `json:"dryRunSummary,omitempty"`
}

// RunSummary counts metrics by phase.
type RunSummary struct {
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
}

// MetricResult is the state of one metric of a run, with its latest measurements.
type MetricResult struct {
	Name  string        `json:"name"`
	Phase AnalysisPhase `json:"phase"`
	// Measurements are the most recent measurements, oldest first.
	// +optional
	Measurements []Measurement `json:"measurements,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Count is the number of measurements that did not error.
	// +optional
	Count int32 `json:"count,omitempty"`
	// +optional
	Successful int32 `json:"successful,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Inconclusive int32 `json:"inconclusive,omitempty"`
	// +optional
	Error int32 `json:"error,omitempty"`
	// ConsecutiveError is the number of errors in a row; it resets on a non-error.
	// +optional
	ConsecutiveError int32 `json:"consecutiveError,omitempty"`
	// ConsecutiveSuccess is the number of successes in a row.
	// +optional
	ConsecutiveSuccess int32 `json:"consecutiveSuccess,omitempty"`
	// DryRun is true when the metric does not affect the run's phase.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// Metadata is provider data about the metric, e.g. the resolved query.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Measurement is one measured value of a metric.
type Measurement struct {
	Phase AnalysisPhase `json:"phase"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Value is the measured value, as a string.
	// +optional
	Value string `json:"value,omitempty"`
	// Metadata is provider data about the measurement, e.g. the Job name.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// ResumeAt is when a measurement in progress should be checked again.
	// +optional
	ResumeAt *metav1.Time `json:"resumeAt,omitempty"`
}
