package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RenderType says how the files at the source path become objects.
// +kubebuilder:validation:Enum=Auto;Directory;Kustomize
type RenderType string

const (
	// RenderAuto renders with Kustomize when the path has a kustomization file, else as a directory.
	RenderAuto RenderType = "Auto"
	// RenderDirectory reads every YAML and JSON manifest in the path.
	RenderDirectory RenderType = "Directory"
	// RenderKustomize builds the path with Kustomize.
	RenderKustomize RenderType = "Kustomize"
)

// Sync status values of GitSyncStatus.Sync.Status.
const (
	SyncStatusSynced    = "Synced"
	SyncStatusOutOfSync = "OutOfSync"
	SyncStatusUnknown   = "Unknown"
)

// Health status values of GitSyncStatus.Health.Status.
const (
	HealthHealthy     = "Healthy"
	HealthProgressing = "Progressing"
	HealthDegraded    = "Degraded"
	HealthSuspended   = "Suspended"
	HealthMissing     = "Missing"
	HealthUnknown     = "Unknown"
)

// Condition types of a GitSync.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"
	ConditionSynced      = "Synced"
	ConditionHealthy     = "Healthy"
)

// Labels and annotations sluice sets or reads on objects and GitSyncs.
const (
	// LabelGitSyncName and LabelGitSyncNamespace mark every object a GitSync applied.
	LabelGitSyncName      = "sluice.dev/gitsync-name"
	LabelGitSyncNamespace = "sluice.dev/gitsync-namespace"
	// AnnotationSyncRequested on a GitSync asks for a sync now whenever its value changes.
	AnnotationSyncRequested = "sluice.dev/sync-requested"
)

// Operation phases of GitSyncStatus.OperationState.Phase.
const (
	OperationRunning   = "Running"
	OperationSucceeded = "Succeeded"
	OperationFailed    = "Failed"
)

// Results of one object in an operation (ResourceResult.Result).
const (
	ResultSynced        = "Synced"
	ResultSyncFailed    = "SyncFailed"
	ResultPruned        = "Pruned"
	ResultPruneSkipped  = "PruneSkipped"
	ResultHookRunning   = "HookRunning"
	ResultHookSucceeded = "HookSucceeded"
	ResultHookFailed    = "HookFailed"
)

// Condition reasons of a GitSync.
const (
	ReasonSucceeded      = "Succeeded"
	ReasonProgressing    = "Progressing"
	ReasonSuspended      = "Suspended"
	ReasonFetchFailed    = "FetchFailed"
	ReasonRenderFailed   = "RenderFailed"
	ReasonEmptyRender    = "EmptyRender"
	ReasonApplyFailed    = "ApplyFailed"
	ReasonHookFailed     = "HookFailed"
	ReasonPruneFailed    = "PruneFailed"
	ReasonSharedResource = "SharedResource"
	ReasonOutOfSync      = "OutOfSync"
	ReasonRetryLimit     = "RetryLimitReached"
	// ReasonInvalidSpec: the GitSync's spec cannot be acted on (the message names the field).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSelfHealBackoff: another writer keeps changing fields Git sets; self-heal waits.
	ReasonSelfHealBackoff = "SelfHealBackoff"
)

// Annotations a config repository puts on its objects; the keys are the ones Argo CD reads.
const (
	AnnotationSyncWave          = "argocd.argoproj.io/sync-wave"
	AnnotationHook              = "argocd.argoproj.io/hook"
	AnnotationHookDeletePolicy  = "argocd.argoproj.io/hook-delete-policy"
	AnnotationSyncOptions       = "argocd.argoproj.io/sync-options"
	HookPreSync                 = "PreSync"
	HookSync                    = "Sync"
	HookPostSync                = "PostSync"
	HookSyncFail                = "SyncFail"
	HookSkip                    = "Skip"
	HookDeleteHookSucceeded     = "HookSucceeded"
	HookDeleteHookFailed        = "HookFailed"
	HookDeleteBeforeHookCreated = "BeforeHookCreation"
)

// GitSyncSource says where the desired state lives.
type GitSyncSource struct {
	// RepoURL is the Git repository, over https, http or ssh.
	RepoURL string `json:"repoURL"`
	// TargetRevision is a branch, tag or commit; HEAD when empty.
	// +optional
	TargetRevision string `json:"targetRevision,omitempty"`
	// Path is the directory inside the repository to render; the root when empty.
	// +optional
	Path string `json:"path,omitempty"`
	// SecretRef names a Secret in the GitSync's namespace with credentials: username and
	// password or bearerToken for https, sshPrivateKey and knownHosts (required: host keys are
	// always checked) for ssh.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}

// DirectoryRender tunes plain directory rendering.
type DirectoryRender struct {
	// Recurse reads manifests in sub-directories too; true when unset.
	// +optional
	Recurse *bool `json:"recurse,omitempty"`
}

// GitSyncRender says how to turn the source path into objects.
type GitSyncRender struct {
	// Type is Auto, Directory or Kustomize; Auto when empty.
	// +optional
	Type RenderType `json:"type,omitempty"`
	// +optional
	Directory *DirectoryRender `json:"directory,omitempty"`
}

// GitSyncDestination says where namespaced objects without a namespace go.
type GitSyncDestination struct {
	// Namespace is the default namespace for namespaced objects that name none.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// AutomatedSync turns on syncing without a person asking for it.
type AutomatedSync struct {
	// Prune deletes objects that left Git.
	// +optional
	Prune bool `json:"prune,omitempty"`
	// SelfHeal puts back live objects that drifted from Git.
	// +optional
	SelfHeal bool `json:"selfHeal,omitempty"`
	// AllowEmpty lets a sync whose render is empty prune everything; off, an empty render is an error.
	// +optional
	AllowEmpty bool `json:"allowEmpty,omitempty"`
}

// Backoff spaces out retries of a failed sync.
type Backoff struct {
	// Duration is the first wait, as a Go duration string ("10s"); a bare number is seconds.
	// +optional
	Duration string `json:"duration,omitempty"`
	// Factor multiplies the wait after each failure.
	// +optional
	Factor *int64 `json:"factor,omitempty"`
	// MaxDuration caps the wait.
	// +optional
	MaxDuration string `json:"maxDuration,omitempty"`
}

// RetryStrategy says how often and how fast a failed sync is tried again.
type RetryStrategy struct {
	// Limit is the number of retries; a negative number retries without end. Unset, it is 5 for
	// an automated sync and 0 otherwise.
	// +optional
	Limit *int64 `json:"limit,omitempty"`
	// +optional
	Backoff *Backoff `json:"backoff,omitempty"`
}

// SyncPolicy says when and how to sync.
type SyncPolicy struct {
	// +optional
	Automated *AutomatedSync `json:"automated,omitempty"`
	// SyncOptions are KEY=VALUE switches: CreateNamespace=true, PruneLast=true, ApplyOutOfSyncOnly=true.
	// +optional
	SyncOptions []string `json:"syncOptions,omitempty"`
	// +optional
	Retry *RetryStrategy `json:"retry,omitempty"`
}

// ResourceIgnoreDifferences selects objects and the fields of them that are not compared with Git:
// by JSON pointer, or every field a field manager owns. As in Argo CD, group and kind match exactly
// or "*", an empty name or namespace matches every object.
type ResourceIgnoreDifferences struct {
	// Group of the objects: "" is the core group, "*" any group.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind of the objects, "*" any kind.
	Kind string `json:"kind"`
	// Name of one object.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the objects.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// JSONPointers are RFC 6901 pointers (/spec/replicas) to fields that are not drift.
	// +optional
	JSONPointers []string `json:"jsonPointers,omitempty"`
	// ManagedFieldsManagers are field managers whose fields are not drift (kube-controller-manager).
	// +optional
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`
}

// GitSyncSpec is the desired state of a GitSync.
type GitSyncSpec struct {
	Source GitSyncSource `json:"source"`
	// +optional
	Render GitSyncRender `json:"render,omitempty"`
	// +optional
	Destination GitSyncDestination `json:"destination,omitempty"`
	// +optional
	SyncPolicy *SyncPolicy `json:"syncPolicy,omitempty"`
	// Interval between polls of the repository, as a Go duration ("1m", "30s"); a webhook makes a
	// poll immediate. 3m when empty.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	Interval string `json:"interval,omitempty"`
	// Suspend stops syncing until it is false again.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// ServiceAccountName, when set, is impersonated for every apply and delete.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// IgnoreDifferences names fields that are not drift (Argo CD's keys). The fields the rollout
	// controller and HorizontalPodAutoscalers own are never drift without being listed here.
	// +optional
	IgnoreDifferences []ResourceIgnoreDifferences `json:"ignoreDifferences,omitempty"`
}

// SyncStatus compares the live objects with Git.
type SyncStatus struct {
	// Status is Synced, OutOfSync or Unknown.
	Status string `json:"status"`
	// Revision is the commit compared against.
	// +optional
	Revision string `json:"revision,omitempty"`
	// ShortRevision is the first characters of Revision, for the printer column.
	// +optional
	ShortRevision string `json:"shortRevision,omitempty"`
	// CommitMessage is the first line of Revision's commit message.
	// +optional
	CommitMessage string `json:"commitMessage,omitempty"`
	// OutOfSync lists the objects that differ from Git, by inventory id.
	// +optional
	OutOfSync []string `json:"outOfSync,omitempty"`
}

// HealthStatus sums up the health of the synced objects.
type HealthStatus struct {
	// Status is Healthy, Progressing, Degraded, Suspended, Missing or Unknown.
	Status string `json:"status"`
	// +optional
	Message string `json:"message,omitempty"`
}

// InventoryEntry is one object this GitSync applied.
type InventoryEntry struct {
	// ID is <namespace>_<name>_<group>_<kind>.
	ID string `json:"id"`
	// Version is the object's API version.
	Version string `json:"version"`
}

// ResourceResult is the outcome of one object in an operation.
type ResourceResult struct {
	ID string `json:"id"`
	// Phase is PreSync, Sync, PostSync or SyncFail for hooks and Sync for other objects.
	// +optional
	Phase string `json:"phase,omitempty"`
	// Wave is the object's sync wave.
	// +optional
	Wave int `json:"wave,omitempty"`
	// Result is what happened: Synced, Pruned, PruneSkipped, SyncFailed, HookRunning,
	// HookSucceeded, HookFailed.
	Result string `json:"result"`
	// +optional
	Message string `json:"message,omitempty"`
	// LiveName is the name the API server gave a hook created with generateName.
	// +optional
	LiveName string `json:"liveName,omitempty"`
}

// OperationState describes the last sync operation.
type OperationState struct {
	// Phase is Running, Succeeded or Failed.
	Phase string `json:"phase"`
	// Revision is the commit this operation syncs.
	// +optional
	Revision string `json:"revision,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	RetryCount int64 `json:"retryCount,omitempty"`
	// Generation is the GitSync's metadata.generation this operation was started for: a spec
	// change starts a new operation until one has run under it (status.observedGeneration only
	// says the last reconcile read the spec, not that an operation applied it).
	// +optional
	Generation int64 `json:"generation,omitempty"`
	// +optional
	Resources []ResourceResult `json:"resources,omitempty"`
}

// HistoryEntry records one finished sync.
type HistoryEntry struct {
	Revision   string      `json:"revision"`
	DeployedAt metav1.Time `json:"deployedAt"`
	Result     string      `json:"result"`
}

// GitSyncStatus is the observed state of a GitSync.
type GitSyncStatus struct {
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Sync *SyncStatus `json:"sync,omitempty"`
	// +optional
	Health *HealthStatus `json:"health,omitempty"`
	// +optional
	Inventory []InventoryEntry `json:"inventory,omitempty"`
	// LastAppliedRevision is the commit of the last sync that succeeded.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// LastSyncRequested is the value of the sluice.dev/sync-requested annotation last acted on.
	// +optional
	LastSyncRequested string `json:"lastSyncRequested,omitempty"`
	// +optional
	OperationState *OperationState `json:"operationState,omitempty"`
	// History keeps the last 10 syncs, newest first.
	// +optional
	History []HistoryEntry `json:"history,omitempty"`
}

// GitSync keeps the objects of a path in a Git repository applied to the cluster.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=gitsyncs,shortName=gs
// +kubebuilder:printcolumn:name="Repo",type=string,JSONPath=`.spec.source.repoURL`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.sync.shortRevision`
// +kubebuilder:printcolumn:name="Sync",type=string,JSONPath=`.status.sync.status`
// +kubebuilder:printcolumn:name="Health",type=string,JSONPath=`.status.health.status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GitSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec GitSyncSpec `json:"spec"`
	// +optional
	Status GitSyncStatus `json:"status,omitempty"`
}

// GitSyncList is a list of GitSyncs.
// +kubebuilder:object:root=true
type GitSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitSync `json:"items"`
}

func init() {
	register(&GitSync{}, &GitSyncList{})
}
