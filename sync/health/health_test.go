package health

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// testCase is one live object and the health it must get. message, when set, must be a substring
// of the result's message.
type testCase struct {
	name    string
	live    string
	status  string
	message string
}

// parse reads a YAML manifest the way a decoder without a scheme does (numbers as float64).
func parse(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &m); err != nil {
		t.Fatalf("parse manifest: %v\n%s", err, manifest)
	}
	return &unstructured.Unstructured{Object: m}
}

// parseTyped reads a YAML manifest the way the API server's decoder does (integers as int64).
func parseTyped(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(manifest))
	if err != nil {
		t.Fatalf("convert manifest: %v", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
	return u
}

func run(t *testing.T, cases []testCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for decoder, obj := range map[string]*unstructured.Unstructured{
				"float64": parse(t, tc.live),
				"int64":   parseTyped(t, tc.live),
			} {
				got := Assess(obj)
				if got.Status != tc.status || !strings.Contains(got.Message, tc.message) {
					t.Errorf("%s: Assess = %+v; want status %s, message containing %q", decoder, got, tc.status, tc.message)
				}
			}
		})
	}
}

func TestAssessGeneric(t *testing.T) {
	run(t, []testCase{
		{name: "kind without a rule is healthy", status: v1alpha1.HealthHealthy, live: `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
`},
		{name: "custom kind without conditions is healthy", status: v1alpha1.HealthHealthy, live: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 3}
status: {observedGeneration: 1}
`},
		{name: "object being deleted is progressing", status: v1alpha1.HealthProgressing, message: "pending deletion", live: `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, deletionTimestamp: "2026-01-02T03:04:05Z"}
`},
		{name: "pod being deleted is terminating", status: v1alpha1.HealthProgressing, message: "Pod is terminating", live: `
apiVersion: v1
kind: Pod
metadata: {name: web-1, deletionTimestamp: "2026-01-02T03:04:05Z"}
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
`},
		{name: "an old API version matches on group and kind", status: v1alpha1.HealthProgressing, message: "1 out of 3 new replicas", live: `
apiVersion: apps/v1beta2
kind: Deployment
metadata: {name: web, generation: 1}
spec: {replicas: 3}
status: {observedGeneration: 1, replicas: 3, updatedReplicas: 1, availableReplicas: 3}
`},
	})
	if got := Assess(nil); got.Status != v1alpha1.HealthMissing {
		t.Errorf("Assess(nil) = %+v; want Missing", got)
	}
}

func TestWorse(t *testing.T) {
	inOrder := []string{
		v1alpha1.HealthHealthy, v1alpha1.HealthSuspended, v1alpha1.HealthProgressing,
		v1alpha1.HealthMissing, v1alpha1.HealthDegraded, v1alpha1.HealthUnknown,
	}
	for i, a := range inOrder {
		for j, b := range inOrder {
			if got, want := Worse(a, b), i > j; got != want {
				t.Errorf("Worse(%s, %s) = %v; want %v", a, b, got, want)
			}
		}
	}
	if !Worse("Bogus", v1alpha1.HealthDegraded) || Worse("Bogus", v1alpha1.HealthUnknown) {
		t.Error("a string that is not a status must rank as Unknown")
	}
}

func TestAggregate(t *testing.T) {
	named := func(name, status, message string) Named {
		return Named{Name: name, Result: Result{Status: status, Message: message}}
	}
	for _, tc := range []struct {
		name  string
		items []Named
		want  Result
	}{
		{name: "empty is healthy", want: Result{Status: v1alpha1.HealthHealthy}},
		{
			name:  "all healthy names the first",
			items: []Named{named("a", v1alpha1.HealthHealthy, ""), named("b", v1alpha1.HealthHealthy, "")},
			want:  Result{Status: v1alpha1.HealthHealthy, Message: "a is Healthy"},
		},
		{
			name: "worst wins and its message is kept",
			items: []Named{
				named("web", v1alpha1.HealthProgressing, "Waiting for rollout to finish"),
				named("db", v1alpha1.HealthDegraded, "Back-off pulling image"),
				named("cache", v1alpha1.HealthSuspended, "Deployment is paused"),
			},
			want: Result{Status: v1alpha1.HealthDegraded, Message: "db: Back-off pulling image"},
		},
		{
			name: "first of equally bad items by input order",
			items: []Named{
				named("a", v1alpha1.HealthHealthy, ""),
				named("b", v1alpha1.HealthMissing, ""),
				named("c", v1alpha1.HealthMissing, "gone"),
			},
			want: Result{Status: v1alpha1.HealthMissing, Message: "b is Missing"},
		},
		{
			name:  "suspended is worse than healthy only",
			items: []Named{named("a", v1alpha1.HealthSuspended, "paused"), named("b", v1alpha1.HealthHealthy, "")},
			want:  Result{Status: v1alpha1.HealthSuspended, Message: "a: paused"},
		},
		{
			name:  "unknown beats degraded",
			items: []Named{named("a", v1alpha1.HealthDegraded, "x"), named("b", v1alpha1.HealthUnknown, "")},
			want:  Result{Status: v1alpha1.HealthUnknown, Message: "b is Unknown"},
		},
	} {
		if got := Aggregate(tc.items); got != tc.want {
			t.Errorf("%s: Aggregate = %+v; want %+v", tc.name, got, tc.want)
		}
	}
}
