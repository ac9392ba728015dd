// Package actions builds the patches of the user actions on a Rollout, as the Argo Rollouts
// tools send them (see shared/API.md, "User actions"): pure functions of the Rollout read from
// the cluster, so that the patches can be tested without one.
package actions

import (
	"encoding/json"
	"fmt"
	"time"
)

// Target says which part of a Rollout a patch goes to.
type Target int

const (
	// Spec patches go to the Rollout itself.
	Spec Target = iota
	// Status patches go to its status subresource.
	Status
)

func (t Target) String() string {
	if t == Status {
		return "status"
	}
	return "spec"
}

// PatchType is the kind of patch body.
type PatchType string

const (
	// MergePatch is a JSON merge patch (RFC 7386).
	MergePatch PatchType = "application/merge-patch+json"
	// JSONPatch is a JSON patch (RFC 6902).
	JSONPatch PatchType = "application/json-patch+json"
)

// Patch is one request to send: its body, its type and where it goes.
type Patch struct {
	Target Target
	Type   PatchType
	Body   []byte
}

// Result is what an action would do: the patches to send in order (none when there is nothing to
// do) and the one line to print once they are sent.
type Result struct {
	Patches []Patch
	Message string
}

// The merge patches of the Argo tools.
const (
	unpausePatch         = `{"spec":{"paused":false}}`
	pausePatch           = `{"spec":{"paused":true}}`
	clearPauseConditions = `{"status":{"pauseConditions":null}}`
	promoteFullPatch     = `{"status":{"promoteFull":true}}`
	abortPatch           = `{"status":{"abort":true}}`
	retryPatch           = `{"status":{"abort":false}}`
	restartPatchFormat   = `{"spec":{"restartAt":%q}}`
)

func merge(t Target, body string) Patch {
	return Patch{Target: t, Type: MergePatch, Body: []byte(body)}
}

// Abort sets status.abort: the controller sends traffic back to stable and scales the update down.
func Abort(name string) Result {
	return Result{Patches: []Patch{merge(Status, abortPatch)}, Message: fmt.Sprintf("rollout '%s' aborted", name)}
}

// Retry clears status.abort so that the controller tries the update again.
func Retry(name string) Result {
	return Result{Patches: []Patch{merge(Status, retryPatch)}, Message: fmt.Sprintf("rollout '%s' retried", name)}
}

// Pause sets spec.paused.
func Pause(name string) Result {
	return Result{Patches: []Patch{merge(Spec, pausePatch)}, Message: fmt.Sprintf("rollout '%s' paused", name)}
}

// Restart sets spec.restartAt to now: the controller replaces the pods created before it.
func Restart(name string, now time.Time) Result {
	at := now.UTC().Format(time.RFC3339)
	return Result{
		Patches: []Patch{merge(Spec, fmt.Sprintf(restartPatchFormat, at))},
		Message: fmt.Sprintf("rollout '%s' restarts the pods created before %s", name, at),
	}
}

// jsonBody marshals v, which cannot fail for the plain values used here.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal patch: %v", err))
	}
	return b
}
