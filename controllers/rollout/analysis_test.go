package rollout

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/controllers/rollout/plan"
)

// TestValidateAnalysisTemplateErrors: a template that does not exist makes the spec invalid,
// naming the field; any other error reading it is returned (and retried), never InvalidSpec.
func TestValidateAnalysisTemplateErrors(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "ns"}}
	ro.Spec.Strategy.Canary = &v1alpha1.CanaryStrategy{Steps: []v1alpha1.CanaryStep{{
		Analysis: &v1alpha1.RolloutAnalysis{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "success-rate"}}},
	}}}
	unavailable := apierrors.NewServiceUnavailable("etcd is unavailable")

	for _, c := range []struct {
		name      string
		getErr    error
		objs      []client.Object
		wantErr   bool
		wantSpecs string
	}{
		{name: "missing template", wantSpecs: `spec.strategy.canary.steps[0].analysis: AnalysisTemplate success-rate not found in namespace ns`},
		{name: "metric that would never end", objs: []client.Object{&v1alpha1.AnalysisTemplate{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "success-rate"},
			Spec: v1alpha1.AnalysisTemplateSpec{Metrics: []v1alpha1.Metric{{Name: "rate", Interval: "10s",
				Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: "http://127.0.0.1:9"}}}}},
		}}, wantSpecs: `spec.strategy.canary.steps[0].analysis: metric "rate" of AnalysisTemplate success-rate has an interval and no count, so it would never end; only background analysis may run until terminated`},
		{name: "read error", getErr: unavailable, wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(c.objs...).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if c.getErr != nil {
						return c.getErr
					}
					return cl.Get(ctx, key, obj, opts...)
				},
			}).Build()
			r := &Reconciler{Client: cl}
			var obs plan.Observed
			err := r.validateAnalysis(context.Background(), ro, &obs)
			if c.wantErr {
				if err == nil || !errors.Is(err, unavailable) {
					t.Fatalf("error = %v, want the read error", err)
				}
				if len(obs.SpecErrors) != 0 {
					t.Fatalf("a read error made the spec invalid: %v", obs.SpecErrors)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := strings.Join(obs.SpecErrors, "; "); got != c.wantSpecs {
				t.Fatalf("spec errors = %q, want %q", got, c.wantSpecs)
			}
		})
	}
}
