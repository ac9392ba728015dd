package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels and annotations that the controller puts on the objects it creates or manages.
const (
	// PodTemplateHashLabelKey tells the ReplicaSets of one Rollout apart; it is set on each
	// ReplicaSet, its selector and its pod template, and on the selectors of managed Services.
	PodTemplateHashLabelKey = "rollouts-pod-template-hash"
	// RevisionAnnotationKey holds the revision number of a ReplicaSet (and of the Rollout).
	RevisionAnnotationKey = "rollout.argoproj.io/revision"
	// ManagedByRolloutsAnnotationKey names the Rollout that manages a Service it does not own.
	ManagedByRolloutsAnnotationKey = "argo-rollouts.argoproj.io/managed-by-rollouts"
	// ScaleDownDeadlineAnnotationKey holds the time after which an old ReplicaSet may be scaled down.
	ScaleDownDeadlineAnnotationKey = "scale-down-deadline"
	// RestartedAfterAnnotationKey marks a ReplicaSet whose pods were restarted for spec.restartAt.
	RestartedAfterAnnotationKey = "argo-rollouts.argoproj.io/restarted-after"

	// RolloutTypeLabel on an AnalysisRun says which part of the strategy created it.
	RolloutTypeLabel = "rollout-type"
	// RolloutTypeStepLabel is the RolloutTypeLabel value of a canary analysis step run.
	RolloutTypeStepLabel = "Step"
	// RolloutTypeBackgroundRunLabel is the RolloutTypeLabel value of a background analysis run.
	RolloutTypeBackgroundRunLabel = "Background"
	// RolloutTypePrePromotionLabel is the RolloutTypeLabel value of a blue-green pre-promotion run.
	RolloutTypePrePromotionLabel = "PrePromotion"
	// RolloutTypePostPromotionLabel is the RolloutTypeLabel value of a blue-green post-promotion run.
	RolloutTypePostPromotionLabel = "PostPromotion"
	// RolloutCanaryStepIndexLabel on a step AnalysisRun holds the index of the step.
	RolloutCanaryStepIndexLabel = "step-index"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=rollouts,shortName=ro
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.HPAReplicas,selectorpath=.status.selector
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`,description="Number of desired pods"
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.replicas`,description="Number of pods of this rollout"
// +kubebuilder:printcolumn:name="Up-to-date",type=integer,JSONPath=`.status.updatedReplicas`,description="Number of pods with the desired template"
// +kubebuilder:printcolumn:name="Available",type=integer,JSONPath=`.status.availableReplicas`,description="Number of available pods"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Rollout replaces a Deployment and moves its pods to a new template step by step, with a
// canary or blue-green strategy, optional traffic shifting and analysis.
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RolloutSpec   `json:"spec"`
	Status RolloutStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RolloutList is a list of Rollouts.
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Rollout `json:"items"`
}

func init() {
	register(&Rollout{}, &RolloutList{})
}

// RolloutSpec is the desired state of a Rollout.
type RolloutSpec struct {
	// Replicas is the number of desired pods (default 1).
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector selects the rollout's pods; it must match the template labels.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Template is the pod template; changing it starts an update. It may be left empty when
	// WorkloadRef is set.
	// +kubebuilder:validation:Optional
	Template corev1.PodTemplateSpec `json:"template,omitzero"`
	// WorkloadRef takes the pod template (and selector) from another workload.
	// +optional
	WorkloadRef *ObjectRef `json:"workloadRef,omitempty"`
	// MinReadySeconds is how long a new pod must be ready before it counts as available.
	// +optional
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RollbackWindow lets a return to a recent revision skip the steps.
	// +optional
	RollbackWindow *RollbackWindowSpec `json:"rollbackWindow,omitempty"`
	// Strategy is the update strategy: exactly one of canary or blueGreen.
	// +optional
	Strategy RolloutStrategy `json:"strategy"`
	// RevisionHistoryLimit is the number of old ReplicaSets kept (default 10).
	// +optional
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops the rollout where it is.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// ProgressDeadlineSeconds is how long an update may go without progress, pauses excluded,
	// before it is reported as ProgressDeadlineExceeded (default 600).
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
	// ProgressDeadlineAbort aborts the update when the progress deadline passes.
	// +optional
	ProgressDeadlineAbort bool `json:"progressDeadlineAbort,omitempty"`
	// RestartAt asks for every pod created before this time to be replaced.
	// +optional
	RestartAt *metav1.Time `json:"restartAt,omitempty"`
	// Analysis sets how many finished AnalysisRuns are kept.
	// +optional
	Analysis *AnalysisRunStrategy `json:"analysis,omitempty"`

	// templateProblems is what kept Template from decoding as written (see TemplateProblems).
	templateProblems []string `json:"-"`
}

// ObjectRef points at the workload that provides the pod template.
type ObjectRef struct {
	// APIVersion of the referenced workload, e.g. apps/v1.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind of the referenced workload, e.g. Deployment.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name of the referenced workload, in the Rollout's namespace.
	// +optional
	Name string `json:"name,omitempty"`
	// ScaleDown says what to do with the referenced workload's pods: never, onsuccess or
	// progressively.
	// +optional
	ScaleDown string `json:"scaleDown,omitempty"`
}

// Values of ObjectRef.ScaleDown.
const (
	ScaleDownNever         = "never"
	ScaleDownOnSuccess     = "onsuccess"
	ScaleDownProgressively = "progressively"
)

// RollbackWindowSpec is the window in which a rollback skips the steps.
type RollbackWindowSpec struct {
	// Revisions is how many of the latest revisions count as a fast rollback target.
	// +optional
	Revisions int32 `json:"revisions,omitempty"`
}

// AnalysisRunStrategy limits the finished AnalysisRuns kept for a Rollout.
type AnalysisRunStrategy struct {
	// SuccessfulRunHistoryLimit is the number of successful runs kept (default 5).
	// +optional
	SuccessfulRunHistoryLimit *int32 `json:"successfulRunHistoryLimit,omitempty"`
	// UnsuccessfulRunHistoryLimit is the number of failed, errored or inconclusive runs kept
	// (default 5).
	// +optional
	UnsuccessfulRunHistoryLimit *int32 `json:"unsuccessfulRunHistoryLimit,omitempty"`
}

// RolloutStrategy holds exactly one update strategy.
type RolloutStrategy struct {
	// BlueGreen runs the new version beside the old one and switches a Service over at once.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	// Canary moves pods (and optionally traffic) to the new version step by step.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`
}

// BlueGreenStrategy is the blue-green update strategy.
type BlueGreenStrategy struct {
	// ActiveService is the Service switched to the new version on promotion.
	ActiveService string `json:"activeService"`
	// PreviewService is the Service that points at the new version before promotion.
	// +optional
	PreviewService string `json:"previewService,omitempty"`
	// PreviewReplicaCount is the size of the new ReplicaSet before promotion (default: full).
	// +optional
	PreviewReplicaCount *int32 `json:"previewReplicaCount,omitempty"`
	// AutoPromotionEnabled promotes without a pause (default true).
	// +optional
	AutoPromotionEnabled *bool `json:"autoPromotionEnabled,omitempty"`
	// AutoPromotionSeconds promotes a paused rollout after this many seconds.
	// +optional
	AutoPromotionSeconds int32 `json:"autoPromotionSeconds,omitempty"`
	// MaxUnavailable is how many pods may be unavailable while pods are replaced (default 25%).
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// ScaleDownDelaySeconds is how long the old ReplicaSet keeps running after the switch
	// (default 30).
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit caps how many old ReplicaSets may wait for their scale-down.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// PrePromotionAnalysis must succeed before the active Service is switched.
	// +optional
	PrePromotionAnalysis *RolloutAnalysis `json:"prePromotionAnalysis,omitempty"`
	// AntiAffinity keeps new pods away from the nodes of the old ones.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// PostPromotionAnalysis runs after the switch; failing it switches back.
	// +optional
	PostPromotionAnalysis *RolloutAnalysis `json:"postPromotionAnalysis,omitempty"`
	// PreviewMetadata is added to the new pods while they are the preview.
	// +optional
	PreviewMetadata *PodTemplateMetadata `json:"previewMetadata,omitempty"`
	// ActiveMetadata is added to the pods while they are the active ones.
	// +optional
	ActiveMetadata *PodTemplateMetadata `json:"activeMetadata,omitempty"`
	// AbortScaleDownDelaySeconds is how long the preview ReplicaSet keeps running after an
	// abort (default 30; 0 keeps it).
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
}

// AntiAffinity asks for anti-affinity between the pods of the new and old versions.
type AntiAffinity struct {
	// +optional
	PreferredDuringSchedulingIgnoredDuringExecution *PreferredDuringSchedulingIgnoredDuringExecution `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *RequiredDuringSchedulingIgnoredDuringExecution `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PreferredDuringSchedulingIgnoredDuringExecution asks for soft anti-affinity.
type PreferredDuringSchedulingIgnoredDuringExecution struct {
	// Weight of the preference, 1-100.
	Weight int32 `json:"weight"`
}

// RequiredDuringSchedulingIgnoredDuringExecution asks for hard anti-affinity.
type RequiredDuringSchedulingIgnoredDuringExecution struct{}

// PodTemplateMetadata is extra labels and annotations for pods in a given role.
type PodTemplateMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RolloutPhase is the summary state of a Rollout.
type RolloutPhase string

// Rollout phases.
const (
	RolloutPhaseHealthy     RolloutPhase = "Healthy"
	RolloutPhaseProgressing RolloutPhase = "Progressing"
	RolloutPhasePaused      RolloutPhase = "Paused"
	RolloutPhaseDegraded    RolloutPhase = "Degraded"
)

// PauseReason says why the controller paused a Rollout.
type PauseReason string

// Pause reasons.
const (
	PauseReasonCanaryPauseStep      PauseReason = "CanaryPauseStep"
	PauseReasonBlueGreenPause       PauseReason = "BlueGreenPause"
	PauseReasonInconclusiveAnalysis PauseReason = "InconclusiveAnalysisRun"
)

// PauseCondition records one reason the rollout is paused and since when.
type PauseCondition struct {
	Reason    PauseReason `json:"reason"`
	StartTime metav1.Time `json:"startTime"`
}

// RolloutStatus is the observed state of a Rollout.
type RolloutStatus struct {
	// Abort stops the update and goes back to the stable version; set by the user.
	// +optional
	Abort bool `json:"abort,omitempty"`
	// PauseConditions lists why the controller paused the rollout; the user clears it to resume.
	// +optional
	PauseConditions []PauseCondition `json:"pauseConditions,omitempty"`
	// ControllerPause is true once the controller has paused the rollout for the current step.
	// +optional
	ControllerPause bool `json:"controllerPause,omitempty"`
	// AbortedAt is when the controller acted on an abort.
	// +optional
	AbortedAt *metav1.Time `json:"abortedAt,omitempty"`
	// CurrentPodHash is the pod template hash of the desired template.
	// +optional
	CurrentPodHash string `json:"currentPodHash,omitempty"`
	// CurrentStepHash is a hash of the steps, to notice when they change.
	// +optional
	CurrentStepHash string `json:"currentStepHash,omitempty"`
	// Replicas is the number of pods of this rollout.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// UpdatedReplicas is the number of pods with the desired template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// ReadyReplicas is the number of ready pods.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// AvailableReplicas is the number of pods ready for at least minReadySeconds.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// CurrentStepIndex is the index of the canary step being executed.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`
	// CollisionCount disambiguates ReplicaSet names when template hashes collide.
	// +optional
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// ObservedGeneration is the metadata.generation the status describes, as a string.
	// +optional
	ObservedGeneration string `json:"observedGeneration,omitempty"`
	// Conditions are the Rollout's conditions.
	// +optional
	Conditions []RolloutCondition `json:"conditions,omitempty"`
	// Canary is the state of a canary update.
	// +optional
	Canary CanaryStatus `json:"canary,omitempty"`
	// BlueGreen is the state of a blue-green update.
	// +optional
	BlueGreen BlueGreenStatus `json:"blueGreen,omitempty"`
	// HPAReplicas is the number of pods receiving traffic; the scale subresource reads it.
	// +optional
	HPAReplicas int32 `json:"HPAReplicas,omitempty"`
	// Selector is the label selector, as a string, of the pods receiving traffic.
	// +optional
	Selector string `json:"selector,omitempty"`
	// StableRS is the pod template hash of the stable ReplicaSet.
	// +optional
	StableRS string `json:"stableRS,omitempty"`
	// RestartedAt is when the last restart requested by spec.restartAt finished.
	// +optional
	RestartedAt *metav1.Time `json:"restartedAt,omitempty"`
	// PromoteFull skips the remaining steps, pauses and analysis; set by the user.
	// +optional
	PromoteFull bool `json:"promoteFull,omitempty"`
	// Phase is the summary state.
	// +optional
	Phase RolloutPhase `json:"phase,omitempty"`
	// Message explains the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// WorkloadObservedGeneration is the generation of the referenced workload last seen.
	// +optional
	WorkloadObservedGeneration string `json:"workloadObservedGeneration,omitempty"`
	// ALB is what Argo Rollouts' ALB traffic router records about its load balancer. sluice
	// does not route with ALB; the field is in the schema so that a status written by Argo
	// Rollouts (or kept from a migration) is not pruned.
	// +optional
	ALB *ALBStatus `json:"alb,omitempty"`
	// ALBs is the ALB record of each Ingress when Argo Rollouts routes through several; kept,
	// like ALB, and not written by sluice.
	// +optional
	ALBs []ALBStatus `json:"albs,omitempty"`
}

// ALBStatus is Argo Rollouts' record of an AWS load balancer and its target groups.
type ALBStatus struct {
	// +optional
	LoadBalancer AwsResourceRef `json:"loadBalancer,omitempty"`
	// +optional
	CanaryTargetGroup AwsResourceRef `json:"canaryTargetGroup,omitempty"`
	// +optional
	StableTargetGroup AwsResourceRef `json:"stableTargetGroup,omitempty"`
	// +optional
	Ingress string `json:"ingress,omitempty"`
}

// AwsResourceRef names an AWS resource.
type AwsResourceRef struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	ARN string `json:"arn,omitempty"`
	// +optional
	FullName string `json:"fullName,omitempty"`
}

// CanaryStatus is the state of a canary update.
type CanaryStatus struct {
	// CurrentStepAnalysisRunStatus is the run of the current analysis step.
	// +optional
	CurrentStepAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentStepAnalysisRunStatus,omitempty"`
	// CurrentBackgroundAnalysisRunStatus is the background analysis run.
	// +optional
	CurrentBackgroundAnalysisRunStatus *RolloutAnalysisRunStatus `json:"currentBackgroundAnalysisRunStatus,omitempty"`
	// CurrentExperiment is the name of the running experiment (experiments are not supported).
	// +optional
	CurrentExperiment string `json:"currentExperiment,omitempty"`
	// Weights are the traffic weights last set on the traffic router.
	// +optional
	Weights *TrafficWeights `json:"weights,omitempty"`
	// StablePingPong is the ping-pong service that currently serves stable traffic.
	// +optional
	StablePingPong PingPongType `json:"stablePingPong,omitempty"`
	// StepPluginStatuses is Argo Rollouts' record of its step plugins. sluice runs no step
	// plugins; the field is in the schema so that a status written by Argo Rollouts is kept.
	// +optional
	StepPluginStatuses []StepPluginStatus `json:"stepPluginStatuses,omitempty"`
}

// StepPluginStatus is one entry of Argo Rollouts' step plugin record: one per step and
// operation (Run, Terminate, Abort).
type StepPluginStatus struct {
	// Index of the canary step.
	// +optional
	Index int32 `json:"index"`
	// Name of the plugin.
	// +optional
	Name string `json:"name"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Backoff is the wait before the plugin is called again, a duration string.
	// +optional
	Backoff DurationString `json:"backoff,omitempty"`
	// Phase is Running, Successful, Failed or Error.
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// Executions counts the calls of the plugin.
	// +optional
	Executions int32 `json:"executions,omitempty"`
	// Status is the plugin's own state, kept as written.
	// +optional
	Status *apiextensionsv1.JSON `json:"status,omitempty"`
	// Operation is Run, Terminate or Abort.
	// +optional
	Operation string `json:"operation,omitempty"`
}

// PingPongType names one of the two ping-pong services.
type PingPongType string

// Ping-pong services.
const (
	PPPing PingPongType = "ping"
	PPPong PingPongType = "pong"
)

// TrafficWeights is the traffic split set on the router.
type TrafficWeights struct {
	// Canary is the share of traffic sent to the canary.
	Canary WeightDestination `json:"canary"`
	// Stable is the share of traffic sent to the stable version.
	Stable WeightDestination `json:"stable"`
	// Additional are shares sent elsewhere (experiments).
	// +optional
	Additional []WeightDestination `json:"additional,omitempty"`
	// Verified says whether the router confirmed the weights took effect.
	// +optional
	Verified *bool `json:"verified,omitempty"`
}

// WeightDestination is one destination of a traffic split.
type WeightDestination struct {
	// Weight is the percentage of traffic.
	Weight int32 `json:"weight"`
	// ServiceName is the Service the traffic goes to.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// PodTemplateHash is the pod template hash of the pods behind it.
	// +optional
	PodTemplateHash string `json:"podTemplateHash,omitempty"`
}

// RolloutAnalysisRunStatus is the name and phase of an AnalysisRun started by the Rollout.
type RolloutAnalysisRunStatus struct {
	Name   string        `json:"name"`
	Status AnalysisPhase `json:"status"`
	// +optional
	Message string `json:"message,omitempty"`
}

// BlueGreenStatus is the state of a blue-green update.
type BlueGreenStatus struct {
	// PreviewSelector is the pod template hash the preview Service selects.
	// +optional
	PreviewSelector string `json:"previewSelector,omitempty"`
	// ActiveSelector is the pod template hash the active Service selects.
	// +optional
	ActiveSelector string `json:"activeSelector,omitempty"`
	// ScaleUpPreviewCheckPoint is true once the preview may be scaled to full size.
	// +optional
	ScaleUpPreviewCheckPoint bool `json:"scaleUpPreviewCheckPoint,omitempty"`
	// PrePromotionAnalysisRunStatus is the pre-promotion run.
	// +optional
	PrePromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"prePromotionAnalysisRunStatus,omitempty"`
	// PostPromotionAnalysisRunStatus is the post-promotion run.
	// +optional
	PostPromotionAnalysisRunStatus *RolloutAnalysisRunStatus `json:"postPromotionAnalysisRunStatus,omitempty"`
}

// RolloutConditionType is the type of a RolloutCondition.
type RolloutConditionType string

// Rollout condition types.
const (
	InvalidSpec           RolloutConditionType = "InvalidSpec"
	RolloutAvailable      RolloutConditionType = "Available"
	RolloutProgressing    RolloutConditionType = "Progressing"
	RolloutReplicaFailure RolloutConditionType = "ReplicaFailure"
	RolloutPaused         RolloutConditionType = "Paused"
	RolloutCompleted      RolloutConditionType = "Completed"
	RolloutHealthy        RolloutConditionType = "Healthy"
)

// Condition reasons that other tools (Argo CD health checks among them) read.
const (
	// RolloutAbortedReason (Progressing=False) follows an abort.
	RolloutAbortedReason = "RolloutAborted"
	// ProgressDeadlineExceededReason (Progressing=False) means the progress deadline passed.
	ProgressDeadlineExceededReason = "ProgressDeadlineExceeded"
	// NewReplicaSetAvailableReason (Progressing=True) means the update completed.
	NewReplicaSetAvailableReason = "NewReplicaSetAvailable"
	// ReplicaSetUpdatedReason (Progressing=True) means the update is under way.
	ReplicaSetUpdatedReason = "ReplicaSetUpdated"
	// RolloutPausedReason means the rollout is paused.
	RolloutPausedReason = "RolloutPaused"
	// RolloutResumedReason means the rollout was resumed.
	RolloutResumedReason = "RolloutResumed"
	// InvalidSpecReason goes with the InvalidSpec condition.
	InvalidSpecReason = "InvalidSpec"
	// AvailableReason goes with the Available condition, True or False.
	AvailableReason = "AvailableReason"
	// RolloutCompletedReason goes with the Completed condition, True or False.
	RolloutCompletedReason = "RolloutCompleted"
	// RolloutHealthyReason goes with the Healthy condition, True or False.
	RolloutHealthyReason = "RolloutHealthy"
)

// RolloutCondition is one condition of a Rollout, in Argo Rollouts' shape.
type RolloutCondition struct {
	// Type of the condition.
	Type RolloutConditionType `json:"type"`
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
