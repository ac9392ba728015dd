package plan

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// TestStepIndexOutOfRangeIsClamped: the CRD accepts any int32 in status.currentStepIndex. An index
// below zero plans as the first step and one past the steps as "every step done"; the planner
// never panics and records an index within [0, len(steps)], with and without traffic routing.
func TestStepIndexOutOfRangeIsClamped(t *testing.T) {
	for _, routed := range []bool{false, true} {
		for _, idx := range []int32{math.MinInt32, -100, -2, -1, 0, 1, 2, 3, 4, 5, 100, math.MaxInt32} {
			t.Run(fmt.Sprintf("routed=%v/index=%d", routed, idx), func(t *testing.T) {
				steps := []v1alpha1.CanaryStep{weight(25), pause(""), weight(50), pause("10s")}
				w := newWorld(t, canaryRollout(4, steps...), "demo-canary", "demo-stable")
				if routed {
					w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
				}
				w.settle(time.Minute)
				w.setImage("app:2")
				w.settle(time.Hour) // paused at step 1
				w.ro.Status.CurrentStepIndex = ptr.To(idx)
				w.ro.Status.PauseConditions = nil
				w.settle(time.Hour)
				got := w.ro.Status.CurrentStepIndex
				if got == nil || *got < 0 || *got > int32(len(steps)) {
					t.Fatalf("step index %v after planning from %d\n%s", got, idx, w.log.String())
				}
				switch {
				case idx <= 0 && (*got != 1 || w.ro.Status.Phase != v1alpha1.RolloutPhasePaused):
					// From the first step again: setWeight 25 is in place, the pause holds.
					t.Fatalf("index %d: step %d phase %s, want paused at step 1 again\n%s", idx, *got, w.ro.Status.Phase, w.log.String())
				case idx >= 4 && (*got != 4 || w.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy):
					t.Fatalf("index %d: step %d phase %s, want every step done and Healthy\n%s", idx, *got, w.ro.Status.Phase, w.log.String())
				}
			})
		}
	}
}

// TestSkipCurrentStepStopsAtTheNextPause: Argo CD's "skip-current-step" action at step 1 of
// [setWeight 25, pause {}, setWeight 50, pause 10s] patches
// `status: {currentStepIndex: 2, pauseConditions: null}`. The controllerPause left from the
// skipped pause must not read as a promotion of the next one: the rollout pauses at step 3 for
// its 10 s, then completes.
func TestSkipCurrentStepStopsAtTheNextPause(t *testing.T) {
	for _, routed := range []bool{false, true} {
		t.Run(fmt.Sprintf("routed=%v", routed), func(t *testing.T) {
			w := newWorld(t, canaryRollout(4, weight(25), pause(""), weight(50), pause("10s")), "demo-canary", "demo-stable")
			if routed {
				w.ro.Spec.Strategy.Canary.TrafficRouting = gatewayRouting()
			}
			w.settle(time.Minute)
			w.setImage("app:2")
			w.settle(time.Hour)
			if idx := w.ro.Status.CurrentStepIndex; idx == nil || *idx != 1 || !w.ro.Status.ControllerPause {
				t.Fatalf("want paused by the controller at step 1, got index %v controllerPause %v", idx, w.ro.Status.ControllerPause)
			}
			w.note("Argo CD skip-current-step: currentStepIndex 2, pauseConditions null")
			w.ro.Status.CurrentStepIndex = ptr.To[int32](2)
			w.ro.Status.PauseConditions = nil
			var pausedAt, resumedAt time.Time
			for i := 0; i < 200 && w.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy; i++ {
				p, changed := w.step()
				idx := ptr.Deref(w.ro.Status.CurrentStepIndex, -1)
				if idx == 3 && findPause(w.ro.Status.PauseConditions, v1alpha1.PauseReasonCanaryPauseStep) != nil && pausedAt.IsZero() {
					pausedAt = w.now
				}
				if idx == 4 && resumedAt.IsZero() {
					resumedAt = w.now
				}
				if changed {
					w.now = w.now.Add(100 * time.Millisecond)
				} else if p.RequeueAfter > 0 {
					w.now = w.now.Add(p.RequeueAfter)
				} else {
					break
				}
			}
			if pausedAt.IsZero() || resumedAt.IsZero() || resumedAt.Sub(pausedAt) < 10*time.Second {
				t.Fatalf("pause at step 3 from %v to %v; want a pause of at least 10s\n%s", pausedAt, resumedAt, w.log.String())
			}
			if w.ro.Status.Phase != v1alpha1.RolloutPhaseHealthy {
				t.Fatalf("phase %s after the pause, want Healthy\n%s", w.ro.Status.Phase, w.log.String())
			}
		})
	}
}

// TestActionErrorIsReportedAndIsNotProgress: while the last execution failed, the Progressing
// condition and message name the failure, a replanned action does not count as progress (so the
// deadline runs), and the condition's times do not move with the message.
func TestActionErrorIsReportedAndIsNotProgress(t *testing.T) {
	ro := canaryRollout(2, weight(50))
	ro.Spec.ProgressDeadlineSeconds = ptr.To[int32](30)
	w := newWorld(t, ro)
	w.settle(time.Minute)
	w.setImage("app:2")
	const failure = `create ReplicaSets: create ReplicaSet demo-x: admission webhook said no`
	plan := func() Plan {
		obs := w.observe()
		obs.ActionError = failure
		p := Next(w.ro.DeepCopy(), obs, w.now)
		w.ro.Status = p.Status // the status write succeeds; the create never does
		return p
	}
	first := plan()
	if len(first.Create) != 1 {
		t.Fatalf("want the ReplicaSet planned for creation, got %d", len(first.Create))
	}
	c := condition(&first.Status, v1alpha1.RolloutProgressing)
	if !strings.HasSuffix(c.Message, actionFailed+failure) || !strings.HasSuffix(first.Status.Message, actionFailed+failure) {
		t.Fatalf("condition %q, message %q: want both to end with the failure", c.Message, first.Status.Message)
	}
	since := c.LastUpdateTime
	for i := 0; i < 40 && w.ro.Status.Phase != v1alpha1.RolloutPhaseDegraded; i++ {
		w.now = w.now.Add(time.Second)
		p := plan()
		if c := condition(&p.Status, v1alpha1.RolloutProgressing); c.Reason != v1alpha1.ProgressDeadlineExceededReason && !c.LastUpdateTime.Equal(&since) {
			t.Fatalf("a refused create moved the last progress from %v to %v", since, c.LastUpdateTime)
		}
	}
	if w.ro.Status.Phase != v1alpha1.RolloutPhaseDegraded || condition(&w.ro.Status, v1alpha1.RolloutProgressing).Reason != v1alpha1.ProgressDeadlineExceededReason {
		t.Fatalf("phase %s after 40 s of refused creates with a 30 s deadline, want Degraded (ProgressDeadlineExceeded)", w.ro.Status.Phase)
	}

	// The reconciler's own report of a failure gives the status the next plan gives.
	st := w.ro.Status.DeepCopy()
	ReportActionError(st, "another failure")
	ReportActionError(st, failure)
	obs := w.observe()
	obs.ActionError = failure
	if got := Next(w.ro.DeepCopy(), obs, w.now).Status; got.Message != st.Message ||
		condition(&got, v1alpha1.RolloutProgressing).Message != condition(st, v1alpha1.RolloutProgressing).Message {
		t.Fatalf("reported %q, planned %q", st.Message, got.Message)
	}
	// Once an execution succeeds the failure is gone from the messages.
	if got := Next(w.ro.DeepCopy(), w.observe(), w.now).Status; strings.Contains(got.Message, actionFailed) ||
		strings.Contains(condition(&got, v1alpha1.RolloutProgressing).Message, actionFailed) {
		t.Fatalf("failure still reported after a success: %q", got.Message)
	}
}
