package v1alpha1_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

const rolloutWithLimits = `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"%s"},
"spec":{"replicas":2,"selector":{"matchLabels":{"app":"demo"}},"strategy":{"canary":{}},
"template":{"metadata":{"labels":{"app":"demo"}},"spec":{"containers":[{"name":"web","image":"nginx",
"resources":{"limits":%s,"requests":{"memory":"64Mi"}}}],"volumes":[%s]}}},
"status":{"phase":"Healthy"}}`

func rolloutJSON(name, limits, volume string) string {
	return fmt.Sprintf(rolloutWithLimits, name, limits, volume)
}

// TestRolloutDecodesNumberQuantity: cpu: 0.001 written as a number decodes as 1m.
func TestRolloutDecodesNumberQuantity(t *testing.T) {
	var ro v1alpha1.Rollout
	if err := json.Unmarshal([]byte(rolloutJSON("a", `{"cpu":0.001}`, `{"name":"tmp","emptyDir":{"sizeLimit":1e9}}`)), &ro); err != nil {
		t.Fatalf("decode: %v", err)
	}
	c := ro.Spec.Template.Spec.Containers[0]
	if got := c.Resources.Limits.Cpu(); got.Cmp(resource.MustParse("1m")) != 0 {
		t.Errorf("cpu limit = %s, want 1m", got)
	}
	if got := ro.Spec.Template.Spec.Volumes[0].EmptyDir.SizeLimit; got == nil || got.Cmp(resource.MustParse("1G")) != 0 {
		t.Errorf("emptyDir sizeLimit = %v, want 1G", got)
	}
	if p := ro.Spec.TemplateProblems(); len(p) != 0 {
		t.Errorf("problems = %q, want none", p)
	}
}

// TestRolloutMalformedQuantityIsKept: a malformed quantity does not fail the decode of the
// Rollout, nor of a list holding it; it is left out of the template and reported with its
// field path, and the rest of the object (status included) is decoded.
func TestRolloutMalformedQuantityIsKept(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	list := `{"apiVersion":"argoproj.io/v1alpha1","kind":"RolloutList","metadata":{},"items":[` +
		rolloutJSON("good", `{"cpu":"100m"}`, `{"name":"tmp","emptyDir":{}}`) + `,` +
		rolloutJSON("bad", `{"cpu":"abc","memory":true}`, `{"name":"tmp","emptyDir":{"sizeLimit":"lots"}}`) + `]}`
	obj, _, err := serializer.NewCodecFactory(scheme).UniversalDeserializer().Decode([]byte(list), nil, nil)
	if err != nil {
		t.Fatalf("decode the list: %v", err)
	}
	items := obj.(*v1alpha1.RolloutList).Items
	if len(items) != 2 || len(items[0].Spec.TemplateProblems()) != 0 {
		t.Fatalf("want two Rollouts, the first without problems; got %d, %q", len(items), items[0].Spec.TemplateProblems())
	}
	bad := items[1]
	got := strings.Join(bad.Spec.TemplateProblems(), "\n")
	for _, want := range []string{
		`spec.template.spec.containers[0].resources.limits.cpu: Invalid value: "abc": quantities must match the regular expression`,
		`spec.template.spec.containers[0].resources.limits.memory: Invalid value: true: must be a quantity, a string or a number (container "web")`,
		`spec.template.spec.volumes[0].emptyDir.sizeLimit: Invalid value: "lots": quantities must match`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	c := bad.Spec.Template.Spec.Containers[0]
	if c.Name != "web" || c.Image != "nginx" || len(c.Resources.Limits) != 0 || c.Resources.Requests.Memory().String() != "64Mi" {
		t.Errorf("container decoded as %+v, want web/nginx without limits and with the memory request", c)
	}
	if bad.Status.Phase != v1alpha1.RolloutPhaseHealthy || bad.Spec.Replicas == nil || *bad.Spec.Replicas != 2 {
		t.Errorf("the rest of the Rollout was not decoded: replicas %v, phase %q", bad.Spec.Replicas, bad.Status.Phase)
	}
	if copied := bad.DeepCopy(); len(copied.Spec.TemplateProblems()) != len(bad.Spec.TemplateProblems()) {
		t.Errorf("DeepCopy lost the problems")
	}
}

// TestRolloutTemplateTypeErrorIsKept: a value of the wrong type in a field the CRD leaves
// unchecked (volumes) is reported as a problem of the template instead of failing the decode.
func TestRolloutTemplateTypeErrorIsKept(t *testing.T) {
	var ro v1alpha1.Rollout
	if err := json.Unmarshal([]byte(rolloutJSON("a", `{"cpu":"1"}`, `{"name":"tmp","emptyDir":{"medium":7}}`)), &ro); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if p := ro.Spec.TemplateProblems(); len(p) != 1 || !strings.HasPrefix(p[0], "spec.template: ") || !strings.Contains(p[0], "medium") {
		t.Fatalf("problems = %q, want one spec.template problem naming medium", p)
	}
}

// TestJobMetricAndExperimentMalformedQuantity: the other pod templates in our CRDs decode the
// same way.
func TestJobMetricAndExperimentMalformedQuantity(t *testing.T) {
	var job v1alpha1.JobMetric
	if err := json.Unmarshal([]byte(`{"spec":{"backoffLimit":1,"template":{"spec":{"containers":[{"name":"check","resources":{"requests":{"cpu":"x1"}}}]}}}}`), &job); err != nil {
		t.Fatalf("decode job metric: %v", err)
	}
	if p := job.TemplateProblems(); len(p) != 1 || !strings.HasPrefix(p[0], `spec.template.spec.containers[0].resources.requests.cpu: Invalid value: "x1"`) {
		t.Errorf("job metric problems = %q", p)
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 1 || job.Spec.Template.Spec.Containers[0].Name != "check" {
		t.Errorf("job spec not decoded: %+v", job.Spec)
	}
	var tmpl v1alpha1.ExperimentTemplateSpec
	if err := json.Unmarshal([]byte(`{"name":"canary","template":{"spec":{"initContainers":[{"name":"init","resources":{"limits":"big"}}]}}}`), &tmpl); err != nil {
		t.Fatalf("decode experiment template: %v", err)
	}
	if p := tmpl.TemplateProblems(); len(p) != 1 || !strings.HasPrefix(p[0], `template.spec.initContainers[0].resources.limits: Invalid value: "big": must be a map`) {
		t.Errorf("experiment template problems = %q", p)
	}
	if tmpl.Name != "canary" {
		t.Errorf("experiment template name = %q", tmpl.Name)
	}
}

// TestRolloutSpecTypeErrorOutsideTemplate: a wrong type outside the template still fails the
// decode, naming the field as a plain decode does.
func TestRolloutSpecTypeErrorOutsideTemplate(t *testing.T) {
	var ro v1alpha1.Rollout
	err := json.Unmarshal([]byte(`{"spec":{"replicas":"two","template":{"spec":{"containers":[{"name":"web","resources":{"limits":{"cpu":"abc"}}}]}}}}`), &ro)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field != "spec.replicas" {
		t.Fatalf("want a type error at spec.replicas, got %v", err)
	}
}
