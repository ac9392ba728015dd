package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func ptr[T any](v T) *T { return &v }

func promMetric(name, query string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: name, SuccessCondition: "result[0] < 0.05", Provider: v1alpha1.MetricProvider{
		Prometheus: &v1alpha1.PrometheusMetric{Address: "http://prom:9090", Query: query}}}
}

func TestBuildRunSpec(t *testing.T) {
	a := NamedTemplate{Name: "a", Spec: v1alpha1.AnalysisTemplateSpec{
		Metrics: []v1alpha1.Metric{promMetric("errors", `rate(errors{svc="{{args.service}}"}[1m])`)},
		Args:    []v1alpha1.Argument{{Name: "service"}, {Name: "env", Value: ptr("prod")}},
		DryRun:  []v1alpha1.DryRun{{MetricName: "errors"}},
	}}
	b := NamedTemplate{Name: "b", ClusterScope: true, Spec: v1alpha1.AnalysisTemplateSpec{
		Metrics:              []v1alpha1.Metric{promMetric("latency", `latency{env="{{ args.env }}"}`)},
		Args:                 []v1alpha1.Argument{{Name: "env"}, {Name: "token", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "s", Key: "k"}}}},
		MeasurementRetention: []v1alpha1.MeasurementRetention{{MetricName: "latency", Limit: 3}},
	}}
	spec, err := BuildRunSpec([]NamedTemplate{a, b}, []v1alpha1.Argument{{Name: "service", Value: ptr("web")}, {Name: "unused", Value: ptr("x")}})
	if err != nil {
		t.Fatalf("BuildRunSpec: %v", err)
	}
	if len(spec.Metrics) != 2 || spec.Metrics[0].Name != "errors" || spec.Metrics[1].Name != "latency" {
		t.Fatalf("metrics = %+v", spec.Metrics)
	}
	if !strings.Contains(spec.Metrics[0].Provider.Prometheus.Query, "{{args.service}}") {
		t.Errorf("placeholders must stay in the run spec for the controller to resolve: %q", spec.Metrics[0].Provider.Prometheus.Query)
	}
	values := map[string]string{}
	for _, arg := range spec.Args {
		if arg.Value != nil {
			values[arg.Name] = *arg.Value
		} else if arg.ValueFrom == nil || arg.ValueFrom.SecretKeyRef == nil {
			t.Errorf("arg %s lost its value", arg.Name)
		}
	}
	if len(spec.Args) != 3 || values["service"] != "web" || values["env"] != "prod" {
		t.Errorf("args = %+v", spec.Args)
	}
	if len(spec.DryRun) != 1 || len(spec.MeasurementRetention) != 1 {
		t.Errorf("dryRun %+v, measurementRetention %+v", spec.DryRun, spec.MeasurementRetention)
	}
}

func TestBuildRunSpecErrors(t *testing.T) {
	one := func(name string, m []v1alpha1.Metric, args ...v1alpha1.Argument) NamedTemplate {
		return NamedTemplate{Name: name, Spec: v1alpha1.AnalysisTemplateSpec{Metrics: m, Args: args}}
	}
	tests := []struct {
		name      string
		templates []NamedTemplate
		args      []v1alpha1.Argument
		want      string
	}{
		{"no templates", nil, nil, "no analysis templates"},
		{"duplicate metric", []NamedTemplate{one("a", []v1alpha1.Metric{promMetric("m", "q")}), one("b", []v1alpha1.Metric{promMetric("m", "q")})}, nil,
			`metric "m" is defined by both AnalysisTemplate a and AnalysisTemplate b`},
		{"missing arg value", []NamedTemplate{one("a", []v1alpha1.Metric{promMetric("m", "{{args.svc}}")}, v1alpha1.Argument{Name: "svc"})}, nil,
			`argument "svc" has no value`},
		{"undeclared arg", []NamedTemplate{one("a", []v1alpha1.Metric{promMetric("m", "{{args.svc}}")})}, nil,
			`metrics use argument "svc" that no template declares`},
		{"conflicting arg values", []NamedTemplate{
			one("a", []v1alpha1.Metric{promMetric("m", "q")}, v1alpha1.Argument{Name: "x", Value: ptr("1")}),
			one("b", []v1alpha1.Metric{promMetric("n", "q")}, v1alpha1.Argument{Name: "x", Value: ptr("2")})}, nil,
			`argument "x" has different values in AnalysisTemplate a and AnalysisTemplate b`},
		{"nested templates", []NamedTemplate{{Name: "a", Spec: v1alpha1.AnalysisTemplateSpec{Templates: []v1alpha1.AnalysisTemplateRef{{TemplateName: "x"}}}}}, nil,
			"nested templates are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildRunSpec(tt.templates, tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("BuildRunSpec error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestBuildRolloutRunSpec(t *testing.T) {
	tmpl := NamedTemplate{Name: "t", Spec: v1alpha1.AnalysisTemplateSpec{
		Metrics: []v1alpha1.Metric{promMetric("m", `x{hash="{{args.hash}}",app="{{args.app}}"}`)},
		Args:    []v1alpha1.Argument{{Name: "hash"}, {Name: "app"}},
	}}
	ra := v1alpha1.RolloutAnalysis{
		Args: []v1alpha1.AnalysisRunArgument{
			{Name: "hash", ValueFrom: &v1alpha1.ArgumentValueFrom{PodTemplateHashValue: ptr(v1alpha1.ValueFromPodTemplateHashLatest)}},
			{Name: "app", ValueFrom: &v1alpha1.ArgumentValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['app.kubernetes.io/name']"}}},
		},
		DryRun: []v1alpha1.DryRun{{MetricName: "m"}},
	}
	rollout := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/name": "shop"}}}
	spec, err := BuildRolloutRunSpec([]NamedTemplate{tmpl}, ra, rollout, PodTemplateHashes{Stable: "aaa", Latest: "bbb"})
	if err != nil {
		t.Fatalf("BuildRolloutRunSpec: %v", err)
	}
	values, err := ResolveArgs(context.Background(), spec.Args, nil, nil)
	if err != nil {
		t.Fatalf("ResolveArgs: %v", err)
	}
	metrics, err := SubstituteMetrics(spec.Metrics, values)
	if err != nil {
		t.Fatalf("SubstituteMetrics: %v", err)
	}
	if got := metrics[0].Provider.Prometheus.Query; got != `x{hash="bbb",app="shop"}` {
		t.Errorf("query = %s", got)
	}
	if !v1alpha1.IsDryRun(spec.DryRun, "m") {
		t.Errorf("the rollout's dryRun was lost")
	}
}

func TestResolveArgs(t *testing.T) {
	secrets := func(_ context.Context, name, key string) (string, error) {
		if name == "creds" && key == "token" {
			return "s3cr3t", nil
		}
		return "", errors.New("secrets \"" + name + "\" not found")
	}
	owner := map[string]any{"metadata": map[string]any{"name": "run-1", "labels": map[string]any{"team": "a"}},
		"spec": map[string]any{"list": []any{map[string]any{"image": "nginx:1"}}}}
	args := []v1alpha1.Argument{
		{Name: "lit", Value: ptr("v")},
		{Name: "tok", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "creds", Key: "token"}}},
		{Name: "team", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['team']"}}},
		{Name: "image", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "spec.list[0].image"}}},
	}
	values, err := ResolveArgs(context.Background(), args, secrets, owner)
	if err != nil {
		t.Fatalf("ResolveArgs: %v", err)
	}
	want := map[string]string{"lit": "v", "tok": "s3cr3t", "team": "a", "image": "nginx:1"}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s = %q, want %q", k, values[k], v)
		}
	}
	for _, bad := range []struct {
		arg  v1alpha1.Argument
		want string
	}{
		{v1alpha1.Argument{Name: "none"}, `resolve argument "none": argument has no value`},
		{v1alpha1.Argument{Name: "s", ValueFrom: &v1alpha1.ValueFrom{SecretKeyRef: &v1alpha1.SecretKeyRef{Name: "nope", Key: "k"}}}, `read key "k" of secret nope`},
		{v1alpha1.Argument{Name: "f", ValueFrom: &v1alpha1.ValueFrom{FieldRef: &v1alpha1.FieldRef{FieldPath: "metadata.labels['x']"}}}, `"x" not found`},
	} {
		if _, err := ResolveArgs(context.Background(), []v1alpha1.Argument{bad.arg}, secrets, owner); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ResolveArgs(%s) error = %v, want %q", bad.arg.Name, err, bad.want)
		}
	}
}

func TestSubstituteArgsEverywhere(t *testing.T) {
	count := intstr.FromString("{{args.count}}")
	m := v1alpha1.Metric{
		Name: "m", Interval: "{{args.interval}}", Count: &count, SuccessCondition: "result < {{args.max}}",
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{
			URL:      "http://{{args.host}}/x?q=\"{{args.host}}\"",
			Headers:  []v1alpha1.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{ args.token }}"}},
			JSONBody: &apiextensionsv1.JSON{Raw: []byte(`{"svc":"{{args.host}}"}`)},
		}},
	}
	values := map[string]string{"interval": "5s", "count": "3", "max": "0.5", "host": `a"b`, "token": "t"}
	out, err := SubstituteArgs(m, values)
	if err != nil {
		t.Fatalf("SubstituteArgs: %v", err)
	}
	if n, _, err := out.GetCount(); err != nil || n != 3 || out.Interval != "5s" || out.SuccessCondition != "result < 0.5" {
		t.Errorf("count %d (%v), interval %s, condition %s", n, err, out.Interval, out.SuccessCondition)
	}
	w := out.Provider.Web
	if w.URL != `http://a"b/x?q="a"b"` || w.Headers[0].Value != "Bearer t" || string(w.JSONBody.Raw) != `{"svc":"a\"b"}` {
		t.Errorf("web = %s, %s, %s", w.URL, w.Headers[0].Value, w.JSONBody.Raw)
	}
	job := v1alpha1.Metric{Name: "j", Provider: v1alpha1.MetricProvider{Job: &v1alpha1.JobMetric{Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:{{args.tag}}"}}}}}}}}
	if out, err := SubstituteArgs(job, map[string]string{"tag": "v2"}); err != nil || out.Provider.Job.Spec.Template.Spec.Containers[0].Image != "img:v2" {
		t.Errorf("job image substitution: %v", err)
	}
	if _, err := SubstituteArgs(m, map[string]string{"host": "x"}); err == nil ||
		!strings.Contains(err.Error(), `metric "m": no value for args.count, args.interval, args.max, args.token`) {
		t.Errorf("missing args error = %v", err)
	}
}

func TestValidateRunSpec(t *testing.T) {
	supported := func(t string) bool { return t == ProviderPrometheus || t == ProviderWeb || t == ProviderJob }
	datadog := v1alpha1.Metric{Name: "dd", Provider: v1alpha1.MetricProvider{Datadog: &apiextensionsv1.JSON{Raw: []byte(`{}`)}}}
	tests := []struct {
		name    string
		metrics []v1alpha1.Metric
		want    string
	}{
		{"valid", []v1alpha1.Metric{promMetric("a", "q")}, ""},
		{"unsupported provider", []v1alpha1.Metric{datadog}, `metric "dd": provider datadog is not supported`},
		{"no provider", []v1alpha1.Metric{{Name: "x"}}, `metric "x": no provider is set`},
		{"count without interval", []v1alpha1.Metric{func() v1alpha1.Metric { m := promMetric("a", "q"); m.Count = intOrStr(3); return m }()}, "interval must be set when count (3) > 1"},
		{"bad interval", []v1alpha1.Metric{func() v1alpha1.Metric { m := promMetric("a", "q"); m.Interval = "soon"; return m }()}, `interval "soon"`},
		{"bad condition", []v1alpha1.Metric{func() v1alpha1.Metric { m := promMetric("a", "q"); m.SuccessCondition = "result[0] <"; return m }()}, "successCondition"},
		{"duplicate", []v1alpha1.Metric{promMetric("a", "q"), promMetric("a", "q")}, `metric "a" is defined twice`},
		{"no query", []v1alpha1.Metric{promMetric("a", "")}, "prometheus.query is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateRunSpec(v1alpha1.AnalysisRunSpec{Metrics: tt.metrics}, supported)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ValidateRunSpec error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestBuildRunSpecRefusesAMalformedJobTemplate: the CRD, like Argo Rollouts', lets a malformed
// quantity through in a job metric's pod template; a run is not built from it (the Job would
// measure without the value), and the error names the metric, the template and the field.
func TestBuildRunSpecRefusesAMalformedJobTemplate(t *testing.T) {
	var at v1alpha1.AnalysisTemplate
	manifest := `{"apiVersion":"argoproj.io/v1alpha1","kind":"AnalysisTemplate","metadata":{"name":"smoke"},
	  "spec":{"metrics":[{"name":"check","provider":{"job":{"spec":{"template":{"spec":{"restartPolicy":"Never",
	    "containers":[{"name":"check","image":"busybox","resources":{"limits":{"cpu":"abc"}}}]}}}}}}]}}`
	if err := json.Unmarshal([]byte(manifest), &at); err != nil {
		t.Fatalf("a malformed quantity must decode (and be reported later): %v", err)
	}
	_, err := BuildRunSpec([]NamedTemplate{{Name: "smoke", Spec: at.Spec}}, nil)
	if err == nil || !strings.Contains(err.Error(), `metric "check" of AnalysisTemplate smoke: invalid job pod template`) ||
		!strings.Contains(err.Error(), "cpu") {
		t.Fatalf("error = %v, want one naming the metric, the template and the quantity", err)
	}
}
