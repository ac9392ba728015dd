// Package plan decides what a Rollout needs next. It is pure: Plan takes what the reconciler
// observed (the Rollout, its ReplicaSets, the time) and returns intents — ReplicaSets to create,
// scale or delete, Service selectors to switch, the status to write, events to record, and when to
// look again. It imports no client, so whole rollouts are tested as golden sequences.
package plan

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// Observed is everything Plan may look at besides the Rollout itself.
type Observed struct {
	// Template is the pod template to roll out: spec.template, or the referenced Deployment's.
	// Nil while a workloadRef names a Deployment that cannot be read.
	Template *corev1.PodTemplateSpec
	// TemplateError says why Template is nil.
	TemplateError string
	// WorkloadGeneration is the metadata.generation of the Deployment a workloadRef names, as
	// read with Template; zero without a workloadRef or while the Deployment cannot be read.
	WorkloadGeneration int64
	// ReplicaSets are the ReplicaSets the Rollout owns, including adopted ones.
	ReplicaSets []*appsv1.ReplicaSet
	// NewRS is the ReplicaSet that runs Template, when one exists (FindReplicaSet: by the
	// template-hash annotation, or by comparing templates). When nil, Next looks for it itself.
	NewRS *appsv1.ReplicaSet
	// DefaultedTemplate is Template as the API server defaults it, set when NeedsDefaulting says
	// finding NewRS takes it; nil otherwise.
	DefaultedTemplate *corev1.PodTemplateSpec
	// PodHash is the hash to use for Template's ReplicaSet when NewRS is nil.
	PodHash string
	// Services are the Services the strategy names that exist, by name.
	Services map[string]*corev1.Service
	// MissingServices are the Services the strategy names that do not exist; they make the spec
	// invalid until they appear.
	MissingServices []string
	// OldPods are the pods of the Rollout created before spec.restartAt, oldest first.
	OldPods []*corev1.Pod
	// Runs are the Rollout's AnalysisRuns, by name.
	Runs map[string]*RunInfo
	// FinishedRuns are the Rollout's completed AnalysisRuns of earlier updates, for clean-up.
	FinishedRuns []FinishedRun
	// SpecErrors are problems found outside the planner (the traffic routing block); they make
	// the spec invalid.
	SpecErrors []string
	// WeightVerified says whether the routes hold, and the routing system accepted, the weights in
	// status.canary.weights.
	WeightVerified bool
	// RoutingError is a problem with the routing objects (a missing route); it is reported in the
	// Progressing condition and the rollout waits.
	RoutingError string
	// ActionError is why carrying out the last plan failed (ReportActionError), empty once a plan
	// was carried out in full. It stays in the Progressing condition until then, and planned
	// actions do not count as progress while it stands: a write the API server keeps refusing runs
	// into the progress deadline.
	ActionError string
	// PauseStarted gives the precise time (finer than the status' one second) at which the
	// current pause condition of a reason was set, when this process set it.
	PauseStarted map[v1alpha1.PauseReason]time.Time
	// PendingCounts are replica counts that differ from the recorded status and wait (under a
	// second) to be written with the changes that follow them, and CountsChangedAt is when they
	// became those counts. Progress made only by these counts dates from then, so the progress
	// deadline does not move with the wait.
	PendingCounts   *Counts
	CountsChangedAt time.Time
}

// Plan is what the Rollout needs next.
type Plan struct {
	// Status is the complete status to write.
	Status v1alpha1.RolloutStatus
	// Create lists ReplicaSets to create.
	Create []*appsv1.ReplicaSet
	// Scale lists changes to existing ReplicaSets.
	Scale []ScaleReplicaSet
	// Delete lists ReplicaSets to delete (revision history).
	Delete []string
	// Selectors lists Services whose rollouts-pod-template-hash selector must change.
	Selectors []SetSelector
	// DeletePods lists pods to delete for a restart; the executor records RestartEvent for each
	// one it deleted.
	DeletePods []string
	// Events are transitions to record on the Rollout once its status holds them. Events about
	// writes to other objects (selector switches, pod restarts) are the executor's, recorded after
	// the write succeeded: SelectorEvent, RestartEvent.
	Events []Event
	// RequeueAfter is when to look again although nothing changes (pauses, delays, deadlines);
	// zero means only on a watch event.
	RequeueAfter time.Duration
	// PodMetadata lists ephemeral metadata changes of ReplicaSets whose role changed.
	PodMetadata []PodMetadata
	// Routing is the traffic the routes should carry; nil without trafficRouting.
	Routing *RoutingIntent
	// CreateRuns lists AnalysisRuns to start.
	CreateRuns []RunRequest
	// TerminateRuns names AnalysisRuns to stop (their analysis is no longer needed).
	TerminateRuns []string
	// DeleteRuns names old AnalysisRuns beyond the history limits.
	DeleteRuns []string
	// PauseStarted records the precise start of pause conditions this plan adds.
	PauseStarted map[v1alpha1.PauseReason]time.Time
}

// ScaleReplicaSet changes one ReplicaSet's replicas and annotations.
type ScaleReplicaSet struct {
	Name     string
	Replicas int32
	// From is the size when planned and Revision the ReplicaSet's revision: the executor tells
	// a change of size once made (ScaleEvent).
	From     int32
	Revision int64
	// Annotations to set (a nil value removes the key).
	Annotations map[string]*string
}

// SetSelector points a Service at the pods of one ReplicaSet.
type SetSelector struct {
	Service string
	Hash    string
	// From is the hash the Service selected when planned ("" for none); the executor announces
	// a switch (SelectorEvent) once the Service holds Hash.
	From string
}

// Event is a Kubernetes event to record.
type Event struct {
	Type    string // corev1.EventTypeNormal or corev1.EventTypeWarning
	Reason  string
	Message string
}

// Annotations sluice keeps on ReplicaSets, beside the ones Argo Rollouts defines.
const (
	// TemplateHashAnnotation records the PodTemplateHash of a ReplicaSet's template, so that a
	// ReplicaSet adopted from another controller (whose hash label differs) is found again.
	TemplateHashAnnotation = "sluice.dev/template-hash"
)

// RunInfo is what the planner needs of an AnalysisRun.
type RunInfo struct {
	Name    string
	Phase   v1alpha1.AnalysisPhase
	Message string
	// Terminating says spec.terminate is already set.
	Terminating bool
}

// RunRequest asks for an AnalysisRun.
type RunRequest struct {
	// Name is the run's name: <rollout>-<hash>-<revision>[-<step>|-pre|-post].
	Name string
	// Type is the rollout-type label value: Step, Background, PrePromotion or PostPromotion.
	Type string
	// StepIndex is set for step runs.
	StepIndex *int32
	// Analysis names the templates and arguments.
	Analysis *v1alpha1.RolloutAnalysis
	// PodHash is the hash of the ReplicaSet under analysis.
	PodHash string
}

// RoutingIntent is the state the routers should bring the routes to.
type RoutingIntent struct {
	// Weights is the split; its weights are in units of trafficRouting.maxTrafficWeight.
	Weights trafficrouting.Weights
	// HeaderRoutes and MirrorRoutes are the managed routes that should exist, by name; every
	// other managed route is removed.
	HeaderRoutes map[string][]v1alpha1.HeaderRoutingMatch
	MirrorRoutes map[string]*v1alpha1.SetMirrorRoute
	// Subsets, when set, are the pod-template hashes of the canary and stable subsets (Istio
	// DestinationRule); they point at ReplicaSets that are available.
	Subsets *[2]string
	// FromWeight is the canary weight the routes were asked for before this plan: the executor
	// tells a change once the routes hold it (WeightEvent).
	FromWeight int32
}

// FinishedRun is a completed AnalysisRun of an earlier update.
type FinishedRun struct {
	Name       string
	Successful bool
	Created    time.Time
}

// Counts are the replica counts of a Rollout's status.
type Counts struct {
	Replicas, Updated, Ready, Available int32
}

// CountsOf returns the replica counts of a status.
func CountsOf(st *v1alpha1.RolloutStatus) Counts {
	return Counts{Replicas: st.Replicas, Updated: st.UpdatedReplicas, Ready: st.ReadyReplicas, Available: st.AvailableReplicas}
}
