package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CanaryStrategy is the canary update strategy.
type CanaryStrategy struct {
	// CanaryService is a Service that selects only the canary pods.
	// +optional
	CanaryService string `json:"canaryService,omitempty"`
	// StableService is a Service that selects only the stable pods.
	// +optional
	StableService string `json:"stableService,omitempty"`
	// Steps are executed in order; without steps the update goes straight to 100%.
	// +optional
	Steps []CanaryStep `json:"steps,omitempty"`
	// TrafficRouting shifts traffic with a router instead of by pod counts.
	// +optional
	TrafficRouting *RolloutTrafficRouting `json:"trafficRouting,omitempty"`
	// MaxUnavailable is how many pods may be unavailable during the update (default 25%).
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge is how many pods may exist above the desired count (default 25%).
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`
	// Analysis is a background analysis that runs while the steps execute.
	// +optional
	Analysis *RolloutAnalysisBackground `json:"analysis,omitempty"`
	// AntiAffinity keeps canary pods away from the nodes of stable pods.
	// +optional
	AntiAffinity *AntiAffinity `json:"antiAffinity,omitempty"`
	// CanaryMetadata is added to the canary pods while they are the canary.
	// +optional
	CanaryMetadata *PodTemplateMetadata `json:"canaryMetadata,omitempty"`
	// StableMetadata is added to the stable pods while they are stable.
	// +optional
	StableMetadata *PodTemplateMetadata `json:"stableMetadata,omitempty"`
	// ScaleDownDelaySeconds is how long the old ReplicaSet keeps running after traffic moved
	// away from it (default 30).
	// +optional
	ScaleDownDelaySeconds *int32 `json:"scaleDownDelaySeconds,omitempty"`
	// ScaleDownDelayRevisionLimit caps how many old ReplicaSets may wait for their scale-down.
	// +optional
	ScaleDownDelayRevisionLimit *int32 `json:"scaleDownDelayRevisionLimit,omitempty"`
	// AbortScaleDownDelaySeconds is how long canary pods keep running after an abort
	// (default 30; 0 keeps them).
	// +optional
	AbortScaleDownDelaySeconds *int32 `json:"abortScaleDownDelaySeconds,omitempty"`
	// DynamicStableScale scales the stable ReplicaSet down as traffic moves to the canary.
	// +optional
	DynamicStableScale bool `json:"dynamicStableScale,omitempty"`
	// PingPong alternates two services instead of canary and stable services.
	// +optional
	PingPong *PingPongSpec `json:"pingPong,omitempty"`
	// MinPodsPerReplicaSet is the smallest non-zero size of a canary or stable ReplicaSet
	// under traffic routing.
	// +optional
	MinPodsPerReplicaSet *int32 `json:"minPodsPerReplicaSet,omitempty"`
}

// PingPongSpec names the two services of a ping-pong canary.
type PingPongSpec struct {
	PingService string `json:"pingService"`
	PongService string `json:"pongService"`
}

// CanaryStep is one step of a canary update; exactly one field is set.
type CanaryStep struct {
	// SetWeight sets the canary's share, in percent, of pods or traffic.
	// +optional
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause waits for a duration, or until promoted when it has none.
	// +optional
	Pause *RolloutPause `json:"pause,omitempty"`
	// Analysis runs an AnalysisRun and waits for its result.
	// +optional
	Analysis *RolloutAnalysis `json:"analysis,omitempty"`
	// SetCanaryScale sets the canary's size independently of its traffic weight.
	// +optional
	SetCanaryScale *SetCanaryScale `json:"setCanaryScale,omitempty"`
	// SetHeaderRoute sends requests with matching headers to the canary.
	// +optional
	SetHeaderRoute *SetHeaderRoute `json:"setHeaderRoute,omitempty"`
	// SetMirrorRoute mirrors matching requests to the canary.
	// +optional
	SetMirrorRoute *SetMirrorRoute `json:"setMirrorRoute,omitempty"`
	// Experiment is accepted so manifests decode, but not supported (InvalidSpec).
	// +optional
	// +kubebuilder:validation:Type=object
	Experiment *apiextensionsv1.JSON `json:"experiment,omitempty"`
	// Plugin is accepted so manifests decode, but not supported (InvalidSpec).
	// +optional
	// +kubebuilder:validation:Type=object
	Plugin *apiextensionsv1.JSON `json:"plugin,omitempty"`
}

// RolloutPause is a pause step.
type RolloutPause struct {
	// Duration is seconds (30 or "30") or a Go duration ("30s", "5m", "1h"); without it the
	// pause lasts until the rollout is promoted.
	// +optional
	Duration *intstr.IntOrString `json:"duration,omitempty"`
}

// SetCanaryScale sets the canary's size; exactly one field is set.
type SetCanaryScale struct {
	// Weight is the canary size as a percentage of spec.replicas.
	// +optional
	Weight *int32 `json:"weight,omitempty"`
	// Replicas is the canary size as a pod count.
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MatchTrafficWeight sizes the canary by its traffic weight again.
	// +optional
	MatchTrafficWeight bool `json:"matchTrafficWeight,omitempty"`
}

// SetHeaderRoute adds, or removes when Match is empty, a header-based route to the canary.
type SetHeaderRoute struct {
	// Name of the route; it must be listed in trafficRouting.managedRoutes.
	// +optional
	Name string `json:"name,omitempty"`
	// Match lists the header conditions; all must hold.
	// +optional
	Match []HeaderRoutingMatch `json:"match,omitempty"`
}

// HeaderRoutingMatch matches one request header.
type HeaderRoutingMatch struct {
	HeaderName  string       `json:"headerName"`
	HeaderValue *StringMatch `json:"headerValue"`
}

// StringMatch matches a string; exactly one field is set.
type StringMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// SetMirrorRoute adds, or removes when Match is empty, a route that mirrors traffic to the canary.
type SetMirrorRoute struct {
	// Name of the route; it must be listed in trafficRouting.managedRoutes.
	Name string `json:"name"`
	// Match lists request conditions; a request matching any of them is mirrored.
	// +optional
	Match []RouteMatch `json:"match,omitempty"`
	// Percentage of the matching requests to mirror.
	// +optional
	Percentage *int32 `json:"percentage,omitempty"`
}

// RouteMatch matches requests by method, path and headers; all given parts must hold.
type RouteMatch struct {
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Path *StringMatch `json:"path,omitempty"`
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
}

// RolloutAnalysisBackground is an analysis that runs in the background of the canary steps.
type RolloutAnalysisBackground struct {
	RolloutAnalysis `json:",inline"`
	// StartingStep is the step index at which the background analysis starts (default 0).
	// +optional
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// RolloutAnalysis says which templates an AnalysisRun is built from, and with which arguments.
type RolloutAnalysis struct {
	// Templates are merged into one AnalysisRun.
	// +optional
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`
	// Args fill the templates' arguments.
	// +optional
	Args []AnalysisRunArgument `json:"args,omitempty"`
	// DryRun lists metrics whose failures do not fail the run.
	// +optional
	DryRun []DryRun `json:"dryRun,omitempty"`
	// MeasurementRetention sets how many measurements are kept per metric.
	// +optional
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// AnalysisRunMetadata is added to the AnalysisRun.
	// +optional
	AnalysisRunMetadata AnalysisRunMetadata `json:"analysisRunMetadata,omitzero"`
}

// AnalysisTemplateRef names an AnalysisTemplate, or a ClusterAnalysisTemplate with ClusterScope.
type AnalysisTemplateRef struct {
	// TemplateName is the template's name.
	// +optional
	TemplateName string `json:"templateName"`
	// ClusterScope looks the name up among ClusterAnalysisTemplates.
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// AnalysisRunArgument is an argument the Rollout passes to an AnalysisRun.
type AnalysisRunArgument struct {
	// Name of the argument.
	Name string `json:"name"`
	// Value is a literal value.
	// +optional
	Value string `json:"value,omitempty"`
	// ValueFrom takes the value from the Rollout or its ReplicaSets.
	// +optional
	ValueFrom *ArgumentValueFrom `json:"valueFrom,omitempty"`
}

// ArgumentValueFrom is where an AnalysisRunArgument's value comes from; exactly one field is set.
type ArgumentValueFrom struct {
	// PodTemplateHashValue is the pod template hash of the Stable or Latest ReplicaSet.
	// +optional
	PodTemplateHashValue *ValueFromPodTemplateHash `json:"podTemplateHashValue,omitempty"`
	// FieldRef is a field of the Rollout, e.g. metadata.labels['app'].
	// +optional
	FieldRef *FieldRef `json:"fieldRef,omitempty"`
}

// ValueFromPodTemplateHash names the ReplicaSet whose pod template hash is used.
type ValueFromPodTemplateHash string

// Values of ValueFromPodTemplateHash.
const (
	ValueFromPodTemplateHashStable ValueFromPodTemplateHash = "Stable"
	ValueFromPodTemplateHashLatest ValueFromPodTemplateHash = "Latest"
)

// FieldRef is the path of a field of the owning object.
type FieldRef struct {
	FieldPath string `json:"fieldPath"`
}

// AnalysisRunMetadata is extra labels and annotations for an AnalysisRun.
type AnalysisRunMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
