package demo

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// orderWatch records, per namespace, the resourceVersion at which the migration Job was first
// seen complete and the one at which the Rollout was created. The API server's resourceVersions
// come from etcd's one revision counter, so they order writes across kinds where timestamps (one
// second apart at best) cannot; the Job is deleted once it succeeded, so it has to be watched.
type orderWatch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	jobDone      map[string]int64
	rolloutAdded map[string]int64
}

var (
	jobsGVR     = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	rolloutsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
)

func watchOrder(ctx context.Context, cfg *rest.Config) (*orderWatch, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create a client for the order watch: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &orderWatch{cancel: cancel, jobDone: map[string]int64{}, rolloutAdded: map[string]int64{}}
	opts := metav1.ListOptions{LabelSelector: "app.kubernetes.io/part-of=payments"}
	for _, gvr := range []schema.GroupVersionResource{jobsGVR, rolloutsGVR} {
		w, err := dyn.Resource(gvr).Watch(ctx, opts)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("watch %s: %w", gvr.Resource, err)
		}
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			defer w.Stop()
			for ev := range w.ResultChan() {
				if u, ok := ev.Object.(*unstructured.Unstructured); ok {
					o.record(gvr, ev.Type, u)
				}
			}
		}()
	}
	return o, nil
}

func (o *orderWatch) record(gvr schema.GroupVersionResource, t watch.EventType, u *unstructured.Unstructured) {
	rv, err := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
	if err != nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	ns := u.GetNamespace()
	switch gvr {
	case rolloutsGVR:
		if _, seen := o.rolloutAdded[ns]; !seen && t == watch.Added {
			o.rolloutAdded[ns] = rv
		}
	case jobsGVR:
		if _, seen := o.jobDone[ns]; !seen && jobComplete(u) {
			o.jobDone[ns] = rv
		}
	}
}

func jobComplete(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Complete" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// migrationFirst reports whether the namespace's migration Job completed before its Rollout was
// created, and both were seen.
func (o *orderWatch) migrationFirst(ns string) (done, created int64, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	done, d := o.jobDone[ns]
	created, c := o.rolloutAdded[ns]
	return done, created, d && c && done < created
}

func (o *orderWatch) stop() {
	o.cancel()
	o.wg.Wait()
}
