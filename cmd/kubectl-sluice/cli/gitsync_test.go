package cli

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

func TestSyncVerdict(t *testing.T) {
	const req = "2026-03-01T12:00:00Z"
	gs := func(acted string, op *sluicev1alpha1.OperationState, conds ...metav1.Condition) *sluicev1alpha1.GitSync {
		return &sluicev1alpha1.GitSync{Status: sluicev1alpha1.GitSyncStatus{LastSyncRequested: acted, OperationState: op, Conditions: conds}}
	}
	op := func(phase, msg string) *sluicev1alpha1.OperationState {
		return &sluicev1alpha1.OperationState{Phase: phase, Message: msg}
	}
	suspended := gs(req, op(sluicev1alpha1.OperationSucceeded, ""))
	suspended.Spec.Suspend = true
	for _, c := range []struct {
		name string
		gs   *sluicev1alpha1.GitSync
		want Verdict
	}{
		// The last operation ended before this request: it says nothing about it.
		{"not acted on yet", gs("earlier", op(sluicev1alpha1.OperationSucceeded, "done")), Verdict{Line: "Waiting - for the controller to start the sync"}},
		{"fetch failing", gs("earlier", nil, metav1.Condition{Type: sluicev1alpha1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: sluicev1alpha1.ReasonFetchFailed, Message: "fetch http://git/config: connection refused"}),
			Verdict{Line: "Waiting - for the controller to start the sync (Ready False, FetchFailed: fetch http://git/config: connection refused)"}},
		{"running", gs(req, op(sluicev1alpha1.OperationRunning, "waiting for wave 1")), Verdict{Line: "Running - waiting for wave 1"}},
		{"succeeded", gs(req, op(sluicev1alpha1.OperationSucceeded, "successfully synced")), Verdict{Line: "Succeeded - successfully synced", Done: true}},
		{"failed", gs(req, op(sluicev1alpha1.OperationFailed, "PreSync hook Job ns/migrate failed")), Verdict{Line: "Failed - PreSync hook Job ns/migrate failed", Done: true, Code: 1}},
		{"suspended", suspended, Verdict{Line: "Suspended - the request waits until spec.suspend is false", Done: true, Code: 1}},
	} {
		if got := SyncVerdict(c.gs, req); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestRestrict: the dry run's object cut down to the fields Git sets, in the server's form.
func TestRestrict(t *testing.T) {
	want := map[string]any{
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{
			"replicas": int64(2),
			"ports":    []any{map[string]any{"port": int64(80)}},
			"args":     []any{"a"},
			"cpu":      "1000m",
		},
	}
	stored := map[string]any{
		"metadata": map[string]any{"name": "web", "uid": "1", "labels": map[string]any{"app": "web", "extra": "x"}},
		"spec": map[string]any{
			"replicas": int64(2),
			"ports":    []any{map[string]any{"port": int64(80), "protocol": "TCP"}},
			"args":     []any{"a", "b"},
			"cpu":      "1",
			"paused":   false,
		},
		"status": map[string]any{"ready": true},
	}
	got := restrict(want, stored)
	exp := map[string]any{
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{
			"replicas": int64(2),
			"ports":    []any{map[string]any{"port": int64(80)}},
			"args":     []any{"a", "b"},
			"cpu":      "1",
		},
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("restrict:\ngot  %v\nwant %v", got, exp)
	}
}
