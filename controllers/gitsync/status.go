package gitsync

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/health"
	"github.com/sluice-dev/sluice/sync/inventory"
)

// maxOutOfSyncListed bounds status.sync.outOfSync.
const maxOutOfSyncListed = 50

// report writes what the comparison and the operation found: sync status, health, conditions.
func (s *run) report(ds *desiredState) {
	st := &s.gs.Status
	var outOfSync []string
	for id, fields := range ds.outOfSync {
		outOfSync = append(outOfSync, apply.Describe(id)+": "+strings.Join(fields, ", "))
	}
	for id, other := range ds.shared {
		outOfSync = append(outOfSync, apply.Describe(id)+": managed by GitSync "+other)
	}
	for _, e := range ds.stale {
		outOfSync = append(outOfSync, apply.Describe(e.ID)+": left Git")
	}
	sort.Strings(outOfSync)
	if len(outOfSync) > maxOutOfSyncListed {
		outOfSync = append(outOfSync[:maxOutOfSyncListed], fmt.Sprintf("… and %d more", len(outOfSync)-maxOutOfSyncListed))
	}
	if st.Sync == nil {
		st.Sync = &v1alpha1.SyncStatus{}
	}
	st.Sync.OutOfSync = outOfSync
	st.Sync.Status = v1alpha1.SyncStatusSynced
	if len(outOfSync) > 0 {
		st.Sync.Status = v1alpha1.SyncStatusOutOfSync
	}

	items := make([]health.Named, 0, len(ds.plan.Objects))
	for _, t := range ds.plan.Objects {
		if s.isSelf(t.ID) {
			// A GitSync that manages its own manifest (a root that syncs itself): its health is
			// the aggregate of the others, never its own previous one.
			continue
		}
		items = append(items, health.Named{Name: apply.Describe(t.ID), Result: health.Assess(ds.live[t.ID])})
	}
	h := health.Aggregate(items)
	if h.Status == v1alpha1.HealthHealthy {
		h.Message = ""
	}
	st.Health = &v1alpha1.HealthStatus{Status: h.Status, Message: h.Message}

	fights := s.r.heal.fights(s.key(), s.now)
	op := st.OperationState
	running := op != nil && op.Phase == v1alpha1.OperationRunning
	opFailed := op != nil && op.Phase == v1alpha1.OperationFailed && st.Sync != nil && op.Revision == st.Sync.Revision
	switch {
	case opFailed:
		// fail() set Synced with the failure's reason; keep it until a sync succeeds.
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionSynced); c == nil || c.Status == metav1.ConditionTrue {
			s.setCondition(v1alpha1.ConditionSynced, false, v1alpha1.ReasonApplyFailed, op.Message)
		}
	case len(fights) > 0:
		s.setCondition(v1alpha1.ConditionSynced, false, v1alpha1.ReasonSelfHealBackoff, fightMessage(fights, s.now))
	case len(outOfSync) == 0:
		s.setCondition(v1alpha1.ConditionSynced, true, v1alpha1.ReasonSucceeded, "synced to "+short(st.Sync.Revision))
	default:
		s.setCondition(v1alpha1.ConditionSynced, false, v1alpha1.ReasonOutOfSync, fmt.Sprintf("%d objects differ from Git: %s", len(outOfSync), outOfSync[0]))
	}
	if h.Status == v1alpha1.HealthHealthy {
		s.setCondition(v1alpha1.ConditionHealthy, true, v1alpha1.HealthHealthy, "every object is healthy")
	} else {
		s.setCondition(v1alpha1.ConditionHealthy, false, h.Status, h.Message)
	}
	if running {
		s.setCondition(v1alpha1.ConditionReconciling, true, v1alpha1.ReasonProgressing, op.Message)
	} else {
		s.setCondition(v1alpha1.ConditionReconciling, false, v1alpha1.ReasonSucceeded, "no sync running")
	}
	retriesLeft := !opFailed || s.gs.Spec.RetryLimit() < 0 || op.RetryCount < s.gs.Spec.RetryLimit()
	if !retriesLeft {
		s.setCondition(v1alpha1.ConditionStalled, true, v1alpha1.ReasonRetryLimit,
			fmt.Sprintf("sync of %s failed %d times; waiting for a new revision, a spec change or %s", short(op.Revision), op.RetryCount+1, v1alpha1.AnnotationSyncRequested))
	} else {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	}
	synced := meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionSynced)
	switch c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionSynced); {
	case !synced:
		s.setCondition(v1alpha1.ConditionReady, false, c.Reason, c.Message)
	case running:
		s.setCondition(v1alpha1.ConditionReady, false, v1alpha1.ReasonProgressing, op.Message)
	case h.Status != v1alpha1.HealthHealthy:
		s.setCondition(v1alpha1.ConditionReady, false, h.Status, h.Message)
	default:
		s.setCondition(v1alpha1.ConditionReady, true, v1alpha1.ReasonSucceeded, "synced to "+short(st.Sync.Revision)+" and healthy")
	}
}

// fightMessage names the objects self-heal backs off from and the writers it would fight.
func fightMessage(fights map[inventory.ID]healState, now time.Time) string {
	ids := slices.SortedFunc(maps.Keys(fights), func(a, b inventory.ID) int { return strings.Compare(a.String(), b.String()) })
	h := fights[ids[0]]
	who := "another writer"
	if h.manager != "" {
		who = fmt.Sprintf("field manager %q", h.manager)
	}
	msg := fmt.Sprintf("%s keeps changing %s back (%s); self-heal backs off", who, apply.Describe(ids[0]), strings.Join(h.fields, ", "))
	if h.until.After(now) {
		// An absolute time, so that the message (and the status) changes only when a back-off
		// step starts, not on every reconcile.
		msg += ", next attempt at " + h.until.UTC().Format(time.RFC3339)
	}
	if len(ids) > 1 {
		msg += fmt.Sprintf(" (and %d more objects)", len(ids)-1)
	}
	return msg
}

// failed records a failure before any object was compared (fetch, render): the cluster and the
// inventory stay as they are. stalled marks failures that retrying the same revision cannot fix.
func (s *run) failed(reason, message string, stalled bool) {
	prev := meta.FindStatusCondition(s.gs.Status.Conditions, v1alpha1.ConditionReady)
	s.setCondition(v1alpha1.ConditionReady, false, reason, message)
	s.setCondition(v1alpha1.ConditionSynced, false, reason, message)
	s.setCondition(v1alpha1.ConditionReconciling, false, reason, message)
	if s.gs.Status.Sync != nil && reason != v1alpha1.ReasonFetchFailed {
		s.gs.Status.Sync.Status = v1alpha1.SyncStatusUnknown
	}
	switch {
	case stalled:
		s.setCondition(v1alpha1.ConditionStalled, true, reason, message)
	case reason == v1alpha1.ReasonFetchFailed && stalledAt(s.gs):
		// A fetch that fails says nothing about the revision: a Stalled condition (a render that
		// fails, retries used up) of this spec stays until a fetch shows whether it still holds,
		// so a parent GitSync does not read a transient network error as the child recovering.
		// One from an older spec goes: the user changed what it was about.
	default:
		meta.RemoveStatusCondition(&s.gs.Status.Conditions, v1alpha1.ConditionStalled)
	}
	if prev == nil || prev.Reason != reason || prev.Message != message {
		s.log.Info("Sync stopped", "reason", reason, "message", message)
		s.event(corev1.EventTypeWarning, reason, "Sync", "%s", message)
	}
}

// suspended records spec.suspend.
func (s *run) suspended() {
	msg := "spec.suspend is true: not syncing"
	s.setCondition(v1alpha1.ConditionReady, false, v1alpha1.ReasonSuspended, msg)
	s.setCondition(v1alpha1.ConditionReconciling, false, v1alpha1.ReasonSuspended, msg)
}

func (s *run) setCondition(typ string, status bool, reason, message string) {
	cs := metav1.ConditionFalse
	if status {
		cs = metav1.ConditionTrue
	}
	if reason == "" {
		reason = "Unknown"
	}
	meta.SetStatusCondition(&s.gs.Status.Conditions, metav1.Condition{
		Type: typ, Status: cs, Reason: reason, Message: message, ObservedGeneration: s.gs.Generation,
		LastTransitionTime: metav1.NewTime(s.now),
	})
}

// event emits a Kubernetes event on the GitSync.
func (s *run) event(eventType, reason, action, format string, args ...any) {
	if s.r.Recorder == nil {
		return
	}
	s.r.Recorder.Eventf(s.gs, nil, eventType, reason, action, format, args...)
}

// isSelf reports whether a managed object is this GitSync itself.
func (s *run) isSelf(id inventory.ID) bool {
	return id.Group == v1alpha1.GroupVersion.Group && id.Kind == "GitSync" && id.Namespace == s.gs.Namespace && id.Name == s.gs.Name
}

// stalledAt reports whether the GitSync has a Stalled condition written for its current spec.
func stalledAt(gs *v1alpha1.GitSync) bool {
	c := meta.FindStatusCondition(gs.Status.Conditions, v1alpha1.ConditionStalled)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == gs.Generation
}
