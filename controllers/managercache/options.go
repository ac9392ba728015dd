// Package managercache is the controller manager's cache configuration: which objects its
// informers hold. The controller binary and the e2e tests' managers use the same one, so the
// tests see what the shipped controller sees.
package managercache

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/analysis/job"
	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Options keeps the manager's informers to the objects the controllers read, so its memory
// grows with the Rollouts and analysis runs, not with every workload in the cluster:
//   - ReplicaSets only with the rollouts-pod-template-hash label. Every ReplicaSet a Rollout
//     creates carries it, and an orphan is adopted only when it does; a Deployment's ReplicaSets
//     (pod-template-hash) stay out. A workloadRef Rollout reads its Deployment, never the
//     Deployment's ReplicaSets.
//   - Jobs only with the analysisrun.argoproj.io/uid label, which every Job of a job metric
//     carries (the provider sets it over the template's labels). GitSync hooks are Jobs too, but
//     the GitSync controller reads the objects it applies through its own clients and
//     label-filtered informers, never through this cache.
//
// Deployments and Services cannot be filtered by label (a workloadRef or a strategy names any
// one), and pods are not cached at all (restarts and pod metadata list them from the API server).
// The managedFields of these four kinds, which nothing reads from the cache, are dropped.
func Options() (cache.Options, error) {
	has := func(key string) (labels.Selector, error) {
		req, err := labels.NewRequirement(key, selection.Exists, nil)
		if err != nil {
			return nil, fmt.Errorf("build the cache's label selector on %s: %w", key, err)
		}
		return labels.NewSelector().Add(*req), nil
	}
	rsLabel, err := has(rolloutsv1alpha1.PodTemplateHashLabelKey)
	if err != nil {
		return cache.Options{}, err
	}
	jobLabel, err := has(job.LabelRunUID)
	if err != nil {
		return cache.Options{}, err
	}
	strip := cache.TransformStripManagedFields()
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&appsv1.ReplicaSet{}: {Label: rsLabel, Transform: strip},
		&batchv1.Job{}:       {Label: jobLabel, Transform: strip},
		&appsv1.Deployment{}: {Transform: strip},
		&corev1.Service{}:    {Transform: strip},
	}}, nil
}
