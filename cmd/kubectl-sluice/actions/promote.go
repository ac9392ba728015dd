package actions

import (
	"fmt"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// IsPaused says whether a person or the controller holds the rollout: spec.paused or any pause
// condition.
func IsPaused(ro *v1alpha1.Rollout) bool {
	return ro.Spec.Paused || len(ro.Status.PauseConditions) > 0
}

// Promote lets a paused rollout go on: spec.paused is cleared (a spec patch) and the pause
// conditions are cleared (a status patch), after which the controller moves past the current
// step. A rollout that is not paused is left alone and the message says so.
func Promote(ro *v1alpha1.Rollout) Result {
	if !IsPaused(ro) {
		return Result{Message: fmt.Sprintf("rollout '%s' is not paused (%s): nothing to promote; use --full to skip the remaining steps", ro.Name, phaseOf(ro))}
	}
	var patches []Patch
	if len(ro.Status.PauseConditions) > 0 {
		patches = append(patches, merge(Status, clearPauseConditions))
	}
	if ro.Spec.Paused {
		patches = append(patches, merge(Spec, unpausePatch))
	}
	return Result{Patches: patches, Message: fmt.Sprintf("rollout '%s' promoted", ro.Name)}
}

// PromoteFull sets status.promoteFull: the controller skips the remaining steps, pauses and
// analyses and makes the update stable. A rollout whose update is already stable is left alone.
// spec.paused is cleared too, since a rollout a person paused would not move otherwise.
func PromoteFull(ro *v1alpha1.Rollout) Result {
	if ro.Status.CurrentPodHash != "" && ro.Status.CurrentPodHash == ro.Status.StableRS && !ro.Status.Abort {
		return Result{Message: fmt.Sprintf("rollout '%s' is already fully promoted", ro.Name)}
	}
	patches := []Patch{merge(Status, promoteFullPatch)}
	if ro.Spec.Paused {
		patches = append(patches, merge(Spec, unpausePatch))
	}
	return Result{Patches: patches, Message: fmt.Sprintf("rollout '%s' fully promoted", ro.Name)}
}

// Resume undoes Pause: it clears spec.paused. A pause step or an analysis pause stays until a
// promote.
func Resume(ro *v1alpha1.Rollout) Result {
	if !ro.Spec.Paused {
		msg := fmt.Sprintf("rollout '%s' is not paused by spec.paused: nothing to resume", ro.Name)
		if len(ro.Status.PauseConditions) > 0 {
			msg += fmt.Sprintf(" (it waits at %s: use promote)", ro.Status.PauseConditions[0].Reason)
		}
		return Result{Message: msg}
	}
	return Result{Patches: []Patch{merge(Spec, unpausePatch)}, Message: fmt.Sprintf("rollout '%s' resumed", ro.Name)}
}

func phaseOf(ro *v1alpha1.Rollout) string {
	if ro.Status.Phase == "" {
		return "no status yet"
	}
	return string(ro.Status.Phase)
}
