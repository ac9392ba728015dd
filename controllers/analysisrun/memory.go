package analysisrun

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// memory is what the reconciler remembers between reconciles of a run, keyed by the run's UID
// (a run deleted and created again under its name starts afresh). It is lost on restart, which
// only means a Secret's grace starts over and a measurement whose status write never landed is
// taken again.
type memory struct {
	mu sync.Mutex
	// missingSince is when a run's Secret was first found missing.
	missingSince map[types.UID]time.Time
	// taken holds measurements taken but perhaps not yet in the status the reconciler reads
	// (a status write refused by a conflict, or a cache that lags behind the write).
	taken map[takenKey]takenMeasurement
}

// takenKey names one measurement: the metric's index-th (0-based, counting finished
// measurements, errors included) of a run.
type takenKey struct {
	run    types.UID
	metric string
	index  int32
}

type takenMeasurement struct {
	m  v1alpha1.Measurement
	at time.Time
}

// takenRetention bounds how long a taken measurement is remembered: long after its write has
// either landed or the run has gone.
const takenRetention = 10 * time.Minute

func (r *AnalysisRunReconciler) memory() *memory {
	r.memOnce.Do(func() {
		r.mem = &memory{missingSince: map[types.UID]time.Time{}, taken: map[takenKey]takenMeasurement{}}
	})
	return r.mem
}

// secretMissing records that a Secret of run is missing and returns since when.
func (m *memory) secretMissing(run types.UID, now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	since, ok := m.missingSince[run]
	if !ok {
		since = now
		m.missingSince[run] = now
	}
	return since
}

// secretFound forgets that a Secret of run was missing.
func (m *memory) secretFound(run types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.missingSince, run)
}

// measurementIndex is the index of the next new measurement of a metric with result.
func measurementIndex(result v1alpha1.MetricResult) int32 {
	return result.Count + result.Error
}

// takenFor returns the measurement already taken for key, if any.
func (m *memory) takenFor(key takenKey) (v1alpha1.Measurement, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.taken[key]
	return t.m, ok
}

// remember records a new measurement taken for key.
func (m *memory) remember(key takenKey, meas v1alpha1.Measurement, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.taken[key] = takenMeasurement{m: meas, at: now}
}

// forget drops what is remembered of run: its measurements that the status now holds (index
// below the metrics' next index, given by next), every one of a finished run (next nil), and
// anything older than takenRetention.
func (m *memory) forget(run types.UID, next map[string]int32, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.taken {
		stale := now.Sub(t.at) > takenRetention
		if k.run == run {
			n, ok := next[k.metric]
			stale = stale || next == nil || (ok && k.index < n)
		}
		if stale {
			delete(m.taken, k)
		}
	}
	if next == nil {
		delete(m.missingSince, run)
	}
}
