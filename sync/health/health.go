// Package health says how healthy a live object is, by its group and kind, with the statuses and
// the rules Argo CD uses (its gitops-engine built-in checks and its argoproj.io/Rollout check). It is
// pure: no client, no I/O.
//
// Statuses are the strings of api/sluice/v1alpha1 (Healthy, Progressing, Degraded, Suspended,
// Missing, Unknown). Rules match on group and kind only, never on the API version, so
// autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers, or extensions and networking.k8s.io
// Ingresses, share one rule. The rules live by concern: workloads.go (Deployment, StatefulSet,
// DaemonSet, ReplicaSet), pod_job.go, network_storage.go (Service, Ingress, PersistentVolumeClaim),
// hpa.go, rollout.go and custom.go (CustomResourceDefinition, GitSync and any object with a Ready
// condition).
//
// Assess reads unstructured objects as the API server returns them (integers as int64) and as a
// YAML or JSON decoder without a scheme returns them (numbers as float64).
package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// Result is the health of one object.
type Result struct {
	// Status is one of the v1alpha1.Health* strings.
	Status string
	// Message says why, when there is something to say.
	Message string
}

// Named is the health of one object with the name it is reported under (an inventory id, say).
type Named struct {
	Name   string
	Result Result
}

// A rule assesses one kind of object. It is only called for objects that are not being deleted.
type rule func(obj *unstructured.Unstructured) Result

// rules maps a group and kind to its rule. Objects of other kinds fall back to their Ready
// condition (custom.go) and are otherwise Healthy.
var rules = map[schema.GroupKind]rule{
	{Group: "apps", Kind: "Deployment"}:                               deploymentHealth,
	{Group: "apps", Kind: "StatefulSet"}:                              statefulSetHealth,
	{Group: "apps", Kind: "DaemonSet"}:                                daemonSetHealth,
	{Group: "apps", Kind: "ReplicaSet"}:                               replicaSetHealth,
	{Kind: "Pod"}:                                                     podHealth,
	{Group: "batch", Kind: "Job"}:                                     jobHealth,
	{Kind: "Service"}:                                                 serviceHealth,
	{Kind: "PersistentVolumeClaim"}:                                   pvcHealth,
	{Group: "networking.k8s.io", Kind: "Ingress"}:                     ingressHealth,
	{Group: "extensions", Kind: "Ingress"}:                            ingressHealth,
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:           hpaHealth,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: crdHealth,
	{Group: "argoproj.io", Kind: "Rollout"}:                           rolloutHealth,
	{Group: v1alpha1.GroupVersion.Group, Kind: "GitSync"}:             gitSyncHealth,
}

// Assess returns the health of one live object. A nil object is Missing. An object being deleted
// is Progressing, whatever its kind, as in Argo CD. Kinds without a rule are judged by their
// Ready condition when they have one (see readyConditionHealth) and are otherwise Healthy, with
// no message.
func Assess(obj *unstructured.Unstructured) Result {
	if obj == nil {
		return Result{Status: v1alpha1.HealthMissing, Message: "object not found"}
	}
	gk := obj.GroupVersionKind().GroupKind()
	if obj.GetDeletionTimestamp() != nil {
		if gk == (schema.GroupKind{Kind: "Pod"}) {
			return progressing("Pod is terminating")
		}
		return progressing("pending deletion")
	}
	if assess, ok := rules[gk]; ok {
		return assess(obj)
	}
	if res, ok := readyConditionHealth(obj); ok {
		return res
	}
	return Result{Status: v1alpha1.HealthHealthy}
}

// order lists the statuses from best to worst, as Argo CD ranks them.
var order = []string{
	v1alpha1.HealthHealthy,
	v1alpha1.HealthSuspended,
	v1alpha1.HealthProgressing,
	v1alpha1.HealthMissing,
	v1alpha1.HealthDegraded,
	v1alpha1.HealthUnknown,
}

// rank is a status's place in order; a string that is not a status ranks as Unknown.
func rank(status string) int {
	for i, s := range order {
		if s == status {
			return i
		}
	}
	return len(order) - 1
}

// canonical is status, or Unknown for a string that is not a status.
func canonical(status string) string { return order[rank(status)] }

// Worse reports whether status a is worse than b in Argo CD's order: Healthy < Suspended <
// Progressing < Missing < Degraded < Unknown. A string that is not a status counts as Unknown.
func Worse(a, b string) bool { return rank(a) > rank(b) }

// Aggregate folds results into the worst one. Its status is the worst status (Healthy for an
// empty input); its message names the first item, in input order, with that status:
// "<name>: <message>" when the item has a message, else "<name> is <status>".
func Aggregate(items []Named) Result {
	if len(items) == 0 {
		return Result{Status: v1alpha1.HealthHealthy}
	}
	worst := items[0]
	for _, item := range items[1:] {
		if Worse(item.Result.Status, worst.Result.Status) {
			worst = item
		}
	}
	status := canonical(worst.Result.Status)
	if worst.Result.Message != "" {
		return Result{Status: status, Message: worst.Name + ": " + worst.Result.Message}
	}
	return Result{Status: status, Message: worst.Name + " is " + status}
}

func healthy(message string) Result {
	return Result{Status: v1alpha1.HealthHealthy, Message: message}
}

func progressing(message string) Result {
	return Result{Status: v1alpha1.HealthProgressing, Message: message}
}

func degraded(message string) Result {
	return Result{Status: v1alpha1.HealthDegraded, Message: message}
}

func suspended(message string) Result {
	return Result{Status: v1alpha1.HealthSuspended, Message: message}
}
