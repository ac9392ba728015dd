package rollout_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout"
)

func webMetric(name, url string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url}}}
}

// TestValidateAnalysisOnTheAPIServer: the analyses a Rollout names are checked against the
// templates stored in the API server. A missing template, a metric that would never end and a
// run that can never be built (a metric in two templates, an argument without a value, two
// values for one argument) make the spec invalid, naming the field; an error reading a template
// is returned, to be retried, and never makes the spec invalid.
func TestValidateAnalysisOnTheAPIServer(t *testing.T) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validate-analysis-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	templates := []*v1alpha1.AnalysisTemplate{
		{ObjectMeta: metav1.ObjectMeta{Name: "endless"}, Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{
			func() v1alpha1.Metric { m := webMetric("rate", "http://127.0.0.1:9"); m.Interval = "10s"; return m }(),
		}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "rate-a"}, Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{webMetric("rate", "http://127.0.0.1:9")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "rate-b"}, Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{webMetric("rate", "http://127.0.0.1:9")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "needs-service"}, Spec: v1alpha1.AnalysisTemplateSpec{
			Args:    []v1alpha1.Argument{{Name: "service"}},
			Metrics: []v1alpha1.Metric{webMetric("up", "http://{{args.service}}:9")},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "service-a"}, Spec: v1alpha1.AnalysisTemplateSpec{
			Args:    []v1alpha1.Argument{{Name: "service", Value: ptr.To("a")}},
			Metrics: []v1alpha1.Metric{webMetric("up-a", "http://{{args.service}}:9")},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "service-b"}, Spec: v1alpha1.AnalysisTemplateSpec{
			Args:    []v1alpha1.Argument{{Name: "service", Value: ptr.To("b")}},
			Metrics: []v1alpha1.Metric{webMetric("up-b", "http://{{args.service}}:9")},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "good"}, Spec: v1alpha1.AnalysisTemplateSpec{
			Args:    []v1alpha1.Argument{{Name: "service"}},
			Metrics: []v1alpha1.Metric{webMetric("up", "http://{{args.service}}:9")},
		}},
	}
	for _, at := range templates {
		at.Namespace = ns.Name
		if err := k8s.Create(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	step := func(args []v1alpha1.AnalysisRunArgument, names ...string) *v1alpha1.Rollout {
		ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: ns.Name}}
		a := &v1alpha1.RolloutAnalysis{Args: args}
		for _, n := range names {
			a.Templates = append(a.Templates, v1alpha1.AnalysisTemplateRef{TemplateName: n})
		}
		ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{Analysis: a}}}
		return ro
	}
	const field = "spec.strategy.canary.steps[0].analysis: "
	for _, c := range []struct {
		name string
		ro   *v1alpha1.Rollout
		want string // "" is valid
	}{
		{"valid", step([]v1alpha1.AnalysisRunArgument{{Name: "service", Value: "web"}}, "good"), ""},
		// A field that only appears later (set by the update, or in the status) is resolved when
		// the run is created, not at validation.
		{"argument from a field not there yet", step([]v1alpha1.AnalysisRunArgument{{Name: "service",
			ValueFrom: &v1alpha1.ArgumentValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.annotations['ci/service']"}}}}, "good"), ""},
		{"missing template", step(nil, "nope"), field + "AnalysisTemplate nope not found in namespace " + ns.Name},
		{"metric that would never end", step(nil, "endless"), field + `metric "rate" of AnalysisTemplate endless has an interval and no count`},
		{"metric in two templates", step(nil, "rate-a", "rate-b"), field + `the AnalysisRun cannot be built: metric "rate" is defined by both`},
		{"argument without a value", step(nil, "needs-service"), field + `the AnalysisRun cannot be built: argument "service" has no value`},
		{"two values for one argument", step(nil, "service-a", "service-b"), field + `the AnalysisRun cannot be built: argument "service" has different values`},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs, err := rollout.ValidateAnalysis(ctx, k8s, c.ro)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(errs, "; ")
			if c.want == "" && got != "" || c.want != "" && !strings.HasPrefix(got, c.want) {
				t.Fatalf("spec errors %q, want %q", got, c.want)
			}
		})
	}

	t.Run("read error", func(t *testing.T) {
		unavailable := apierrors.NewServiceUnavailable("etcd is unavailable")
		errs, err := rollout.ValidateAnalysis(ctx, failingGets{k8s, unavailable}, step(nil, "good"))
		if !errors.Is(err, unavailable) || len(errs) != 0 {
			t.Fatalf("error %v and spec errors %q, want the read error and no spec error", err, errs)
		}
	})
}

// failingGets is the API server's client with every Get failing with err (an API server that
// cannot reach etcd).
type failingGets struct {
	client.Client
	err error
}

func (f failingGets) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return f.err
}
