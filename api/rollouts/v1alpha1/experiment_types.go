package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=experiments,shortName=exp
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`,description="Experiment status"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`,description="Time since resource was created"

// Experiment is installed so that the Argo Rollouts tools, which list and watch it, work against
// sluice. The controller does not act on Experiments yet: nothing creates their ReplicaSets or
// AnalysisRuns, and a Rollout's experiment step is InvalidSpec. The schema follows Argo Rollouts'
// field names and JSON types, so existing Experiment manifests are accepted and read back intact.
// Like Argo Rollouts' CRD, the kind has no status subresource.
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExperimentSpec   `json:"spec"`
	Status ExperimentStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ExperimentList is a list of Experiments.
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}

func init() {
	register(&Experiment{}, &ExperimentList{})
}

// ExperimentSpec is the desired state of an Experiment: ReplicaSets run side by side for a
// while, with analyses alongside.
type ExperimentSpec struct {
	// Templates are the ReplicaSets the experiment runs.
	Templates []ExperimentTemplateSpec `json:"templates"`
	// Duration is how long the experiment runs once every template is available ("30s", "5m",
	// "1h"); empty means until it is terminated or an analysis fails.
	// +optional
	Duration DurationString `json:"duration,omitempty"`
	// ProgressDeadlineSeconds is how long a template may take to become available (default 600).
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// Terminate stops the experiment early.
	// +optional
	Terminate bool `json:"terminate,omitempty"`
	// Analyses are the AnalysisRuns started with the experiment.
	// +optional
	Analyses []ExperimentAnalysisTemplateRef `json:"analyses,omitempty"`
	// ScaleDownDelaySeconds is how long the ReplicaSets keep running after the experiment ends
	// (default 30).
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// DryRun names metrics whose results do not affect the analyses' phases.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements of a metric are kept.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// AnalysisRunMetadata is added to the AnalysisRuns of the experiment.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitzero"`
}

// ExperimentTemplateSpec is one ReplicaSet of an Experiment (Argo Rollouts calls it TemplateSpec).
type ExperimentTemplateSpec struct {
	// Name identifies the template within the experiment.
	Name string `json:"name"`
	// Replicas is the number of pods (default 1).
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MinReadySeconds is how long a new pod must be ready before it counts as available.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// Selector selects the template's pods; it must match the template labels.
	Selector *metav1.LabelSelector `json:"selector"`
	// Template is the pod template of the ReplicaSet.
	Template corev1.PodTemplateSpec `json:"template"`
	// Service asks for a Service in front of the template's pods.
	// +optional
	Service *ExperimentTemplateService `json:"service,omitempty"`

	// templateProblems is what kept Template from decoding as written (see TemplateProblems).
	templateProblems []string `json:"-"`
}

// ExperimentTemplateService describes the Service made for a template.
type ExperimentTemplateService struct {
	// Name of the Service; derived from the experiment and template when empty.
	// +optional
	Name string `json:"name,omitempty"`
}

// ExperimentAnalysisTemplateRef is an analysis run during an Experiment.
type ExperimentAnalysisTemplateRef struct {
	// Name identifies the analysis within the experiment.
	Name string `json:"name"`
	// TemplateName is the AnalysisTemplate (or ClusterAnalysisTemplate) the run is built from.
	TemplateName string `json:"templateName"`
	// ClusterScope looks the template up as a ClusterAnalysisTemplate.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
	// Args are passed to the AnalysisRun.
	// +optional
	Args []Argument `json:"args,omitempty"`
	// RequiredForCompletion keeps the experiment running until this analysis completes.
	// +optional
	RequiredForCompletion bool `json:"requiredForCompletion,omitempty"`
}

// ExperimentTemplateStatusCode is the state of one template of an Experiment.
type ExperimentTemplateStatusCode string

// Template states, as Argo Rollouts writes them.
const (
	ExperimentTemplateProgressing ExperimentTemplateStatusCode = "Progressing"
	ExperimentTemplateRunning     ExperimentTemplateStatusCode = "Running"
	ExperimentTemplateSuccessful  ExperimentTemplateStatusCode = "Successful"
	ExperimentTemplateFailed      ExperimentTemplateStatusCode = "Failed"
	ExperimentTemplateError       ExperimentTemplateStatusCode = "Error"
)

// ExperimentStatus is the observed state of an Experiment.
type ExperimentStatus struct {
	// Phase is the state of the experiment: Pending, Running, Successful, Failed, Error or
	// Inconclusive.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// TemplateStatuses is the state of each template's ReplicaSet.
	// +optional
	TemplateStatuses []ExperimentTemplateStatus `json:"templateStatuses,omitempty"`
	// AvailableAt is when every template became available; the duration counts from it.
	// +optional
	AvailableAt *metav1.Time `json:"availableAt,omitempty"`
	// Conditions of the experiment, in Argo Rollouts' shape.
	// +optional
	Conditions []ExperimentCondition `json:"conditions,omitempty"`
	// AnalysisRuns is the state of each analysis of the experiment.
	// +optional
	AnalysisRuns []ExperimentAnalysisRunStatus `json:"analysisRuns,omitempty"`
}

// ExperimentTemplateStatus is the state of one template of an Experiment.
type ExperimentTemplateStatus struct {
	// Name of the template.
	Name string `json:"name"`
	// Replicas is the number of non-terminated pods of the template.
	Replicas int32 `json:"replicas"`
	// UpdatedReplicas is the number of those pods with the desired template.
	UpdatedReplicas int32 `json:"updatedReplicas"`
	// ReadyReplicas is the number of ready pods.
	ReadyReplicas int32 `json:"readyReplicas"`
	// AvailableReplicas is the number of pods ready for at least minReadySeconds.
	AvailableReplicas int32 `json:"availableReplicas"`
	// CollisionCount counts hash collisions when naming the template's ReplicaSet.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Status is the state of the template's ReplicaSet.
	// +optional
	Status ExperimentTemplateStatusCode `json:"status,omitempty"`
	// Message explains the status.
	// +optional
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when the status last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// ServiceName is the Service made for the template.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// PodTemplateHash is the pod template hash of the template's ReplicaSet.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// ExperimentConditionType is the type of an Experiment condition: InvalidSpec, Completed,
// Progressing, Running or ReplicaFailure.
type ExperimentConditionType string

// ExperimentCondition is one condition of an Experiment, in Argo Rollouts' shape.
type ExperimentCondition struct {
	// Type of the condition.
	Type ExperimentConditionType `json:"type"`
	// Status is True, False or Unknown.
	Status corev1.ConditionStatus `json:"status"`
	// LastUpdateTime is when the condition was last written.
	LastUpdateTime metav1.Time `json:"lastUpdateTime"`
	// LastTransitionTime is when the status last changed.
	LastTransitionTime metav1.Time `json:"lastTransitionTime"`
	// Reason is a one-word cause.
	Reason string `json:"reason"`
	// Message explains the condition.
	Message string `json:"message"`
}

// ExperimentAnalysisRunStatus is the state of one analysis of an Experiment.
type ExperimentAnalysisRunStatus struct {
	// Name of the analysis.
	Name string `json:"name"`
	// AnalysisRun is the name of the AnalysisRun.
	AnalysisRun string `json:"analysisRun"`
	// Phase of the AnalysisRun.
	Phase AnalysisPhase `json:"phase"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
}
