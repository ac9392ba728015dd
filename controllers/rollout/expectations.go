package rollout

import (
	"context"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// expectations remember the resource versions of the writes one reconcile made, so that the next
// reconcile does not plan on a cache that has not seen them yet (it would redo the writes, or
// fail on conflicts). The watch event that brings a write into the cache triggers the reconcile
// that may proceed. A write that never shows up is given up on after expectationTimeout.
type expectations struct {
	mu      sync.Mutex
	pending map[types.NamespacedName]*expected
}

type expected struct {
	at       time.Time
	rollout  uint64
	replicas map[string]uint64 // ReplicaSet name -> resource version
}

const expectationTimeout = 5 * time.Second

func (e *expectations) forRollout(key types.NamespacedName) *expected {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pending == nil {
		e.pending = map[types.NamespacedName]*expected{}
	}
	exp, ok := e.pending[key]
	if !ok {
		exp = &expected{replicas: map[string]uint64{}}
		e.pending[key] = exp
	}
	exp.at = time.Now()
	return exp
}

// wroteRollout records the resource version of a Rollout write.
func (e *expectations) wroteRollout(key types.NamespacedName, rv string) {
	if v, ok := parseRV(rv); ok {
		exp := e.forRollout(key)
		e.mu.Lock()
		exp.rollout = max(exp.rollout, v)
		e.mu.Unlock()
	}
}

// wroteReplicaSet records the resource version of a ReplicaSet write.
func (e *expectations) wroteReplicaSet(key types.NamespacedName, name, rv string) {
	if v, ok := parseRV(rv); ok {
		exp := e.forRollout(key)
		e.mu.Lock()
		exp.replicas[name] = max(exp.replicas[name], v)
		e.mu.Unlock()
	}
}

// satisfied reports whether the cache holds every write recorded for the Rollout (whose cached
// resource version is rolloutRV).
func (e *expectations) satisfied(ctx context.Context, c client.Reader, key types.NamespacedName, rolloutRV string) bool {
	e.mu.Lock()
	exp, ok := e.pending[key]
	if !ok {
		e.mu.Unlock()
		return true
	}
	if time.Since(exp.at) > expectationTimeout {
		delete(e.pending, key)
		e.mu.Unlock()
		return true
	}
	wantRollout := exp.rollout
	wantRS := make(map[string]uint64, len(exp.replicas))
	for k, v := range exp.replicas {
		wantRS[k] = v
	}
	e.mu.Unlock()

	if v, ok := parseRV(rolloutRV); ok && v < wantRollout {
		return false
	}
	for name, want := range wantRS {
		rs := &appsv1.ReplicaSet{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: name}, rs); err != nil {
			return false
		}
		if v, ok := parseRV(rs.ResourceVersion); ok && v < want {
			return false
		}
	}
	e.mu.Lock()
	delete(e.pending, key)
	e.mu.Unlock()
	return true
}

func (e *expectations) forget(key types.NamespacedName) {
	e.mu.Lock()
	delete(e.pending, key)
	e.mu.Unlock()
}

// parseRV reads a resource version as a number; etcd's are, though clients are told not to rely
// on it, so anything else counts as satisfied.
func parseRV(rv string) (uint64, bool) {
	v, err := strconv.ParseUint(rv, 10, 64)
	return v, err == nil
}
