package rollout

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestNamespaceTerminating: only errors that all say the namespace is being deleted end a
// reconcile quietly; any other error in the lot is retried.
func TestNamespaceTerminating(t *testing.T) {
	terminating := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `replicasets.apps "web-1" is forbidden: unable to create new content in namespace e2e because it is being terminated`,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Message: "namespace e2e is being terminated"}}},
	}}
	wrapped := fmt.Errorf("create ReplicaSet web-1: %w", terminating)
	other := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "replicasets"}, "web-1", errors.New("RBAC says no"))
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"terminating", wrapped, true},
		{"joined, all terminating", errors.Join(wrapped, fmt.Errorf("scale: %w", terminating)), true},
		{"joined with another error", errors.Join(wrapped, other), false},
		{"another forbidden", other, false},
		{"not an API error", errors.New("boom"), false},
	} {
		if got := namespaceTerminating(c.err); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestNamespaceTerminatingThroughPhases: a phase's error wraps the joined errors of its intents.
func TestNamespaceTerminatingThroughPhases(t *testing.T) {
	terminating := &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}},
	}}
	other := errors.New("boom")
	one := fmt.Errorf("create AnalysisRun r: %w", terminating)
	if !namespaceTerminating(fmt.Errorf("start and stop AnalysisRuns: %w", errors.Join(one, one))) {
		t.Error("a phase error of terminating-namespace errors only: want true")
	}
	if namespaceTerminating(fmt.Errorf("start and stop AnalysisRuns: %w", errors.Join(one, other))) {
		t.Error("a phase error with another error in it: want false")
	}
}
