package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
)

func TestConvertValue(t *testing.T) {
	sample := func(v float64) *model.Sample { return &model.Sample{Value: model.SampleValue(v)} }
	tests := []struct {
		name    string
		value   model.Value
		want    string
		wantLen int // -1: a scalar
		wantErr string
	}{
		{"scalar", &model.Scalar{Value: 0.25}, "0.25", -1, ""},
		{"scalar NaN", &model.Scalar{Value: model.SampleValue(math.NaN())}, "NaN", -1, ""},
		{"vector", model.Vector{sample(0.01), sample(2)}, "[0.01,2]", 2, ""},
		{"vector with NaN and Inf", model.Vector{sample(math.NaN()), sample(math.Inf(1))}, "[NaN,+Inf]", 2, ""},
		{"empty vector", model.Vector{}, "[]", 0, ""},
		{"matrix", model.Matrix{{Values: []model.SamplePair{{Value: 1}, {Value: 2}}}, {Values: []model.SamplePair{{Value: 3}}}}, "[1,2,3]", 3, ""},
		{"empty matrix", model.Matrix{}, "[]", 0, ""},
		{"string", &model.String{Value: "x"}, "", 0, "not a scalar, vector or matrix"},
		{"nil", nil, "", 0, "no result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, str, err := ConvertValue(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ConvertValue error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || str != tt.want {
				t.Fatalf("ConvertValue = %v %q %v, want %q", got, str, err, tt.want)
			}
			if tt.wantLen < 0 {
				if _, ok := got.(float64); !ok {
					t.Fatalf("a scalar must become a float64, got %T", got)
				}
			} else if fs, ok := got.([]float64); !ok || len(fs) != tt.wantLen {
				t.Fatalf("result = %#v, want []float64 of %d", got, tt.wantLen)
			}
		})
	}
}

// FuzzConvertValue decodes arbitrary Prometheus API "data" payloads as client_golang does and
// checks that conversion never panics and that its string form is consistent.
func FuzzConvertValue(f *testing.F) {
	for _, s := range []string{
		`{"resultType":"vector","result":[{"metric":{},"value":[1,"0.01"]}]}`,
		`{"resultType":"vector","result":[]}`,
		`{"resultType":"scalar","result":[1,"NaN"]}`,
		`{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"+Inf"]]}]}`,
		`{"resultType":"string","result":[1,"x"]}`,
		`{"resultType":"vector","result":[null]}`,
		`{"resultType":"matrix","result":[null]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		var qr struct {
			Type   model.ValueType `json:"resultType"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal([]byte(payload), &qr) != nil {
			return
		}
		var v model.Value
		switch qr.Type {
		case model.ValScalar:
			v = new(model.Scalar)
		case model.ValVector:
			v = new(model.Vector)
		case model.ValMatrix:
			v = new(model.Matrix)
		case model.ValString:
			v = new(model.String)
		default:
			return
		}
		if json.Unmarshal(qr.Result, v) != nil {
			return
		}
		switch x := v.(type) {
		case *model.Vector:
			v = *x
		case *model.Matrix:
			v = *x
		}
		got, str, err := ConvertValue(v)
		if err != nil {
			return
		}
		if fs, ok := got.([]float64); ok && strings.Count(str, ",") != max(len(fs)-1, 0) {
			t.Fatalf("string %q does not list %d values", str, len(fs))
		}
	})
}

func TestParseRange(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	r, err := ParseRange(v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("5m")`, End: "now()", Step: "1m"}, now)
	if err != nil {
		t.Fatalf("ParseRange: %v", err)
	}
	if !r.Start.Equal(now.Add(-5*time.Minute)) || !r.End.Equal(now) || r.Step != time.Minute {
		t.Fatalf("range = %+v", r)
	}
	if r, err := ParseRange(v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("30s")`, Step: "10s"}, now); err != nil || !r.End.Equal(now) {
		t.Fatalf("end should default to now: %+v %v", r, err)
	}
	for _, bad := range []v1alpha1.PrometheusRangeQueryArgs{
		{Step: "1m"},
		{Start: "now() - 5m", Step: "1m"},
		{Start: `"yesterday"`, Step: "1m"},
		{Start: "now()", Step: "0s"},
		{Start: "now()", End: `now() - duration("1h")`, Step: "1m"},
	} {
		if _, err := ParseRange(bad, now); err == nil {
			t.Errorf("ParseRange(%+v) succeeded", bad)
		}
	}
}

func metric(address, query string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: "m", SuccessCondition: "result[0] < 0.05",
		Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusMetric{Address: address, Query: query}}}
}

func TestMeasureUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, metric("http://"+addr, "up"))
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "connection refused") {
		t.Fatalf("measurement = %s %q, want Error naming the refused connection", m.Phase, m.Message)
	}
}

func TestMeasureTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	mt := metric(srv.URL, "up")
	mt.Provider.Prometheus.Timeout = new(int64)
	*mt.Provider.Prometheus.Timeout = 1
	start := time.Now()
	m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, mt)
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "timeout after 1s") {
		t.Fatalf("measurement = %s %q, want Error naming the timeout", m.Phase, m.Message)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout of 1s took %s", d)
	}
}

func TestMeasureAgainstPrometheus(t *testing.T) {
	if _, err := cluster.PrometheusBinary(); err != nil {
		t.Fatalf("a real Prometheus is needed (make tools installs it): %v", err)
	}
	prom, err := cluster.StartPrometheus(context.Background(), t.TempDir(), cluster.ScrapeConfig("self", time.Second, "127.0.0.1:1"))
	if err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	defer prom.Stop()
	tests := []struct {
		name, query, condition string
		rangeQuery             *v1alpha1.PrometheusRangeQueryArgs
		want                   v1alpha1.AnalysisPhase
		wantValue, wantMsg     string
	}{
		{name: "vector success", query: "vector(0.01)", condition: "result[0] < 0.05", want: v1alpha1.AnalysisPhaseSuccessful, wantValue: "[0.01]"},
		{name: "vector failure", query: "vector(0.5)", condition: "result[0] < 0.05", want: v1alpha1.AnalysisPhaseFailed, wantValue: "[0.5]"},
		{name: "scalar", query: "scalar(vector(2))", condition: "result == 2", want: v1alpha1.AnalysisPhaseSuccessful, wantValue: "2"},
		{name: "NaN", query: "vector(0) / 0 ", condition: "isNaN(result[0])", want: v1alpha1.AnalysisPhaseSuccessful, wantValue: "[NaN]"},
		{name: "empty result", query: `absent_metric_sluice{x="y"}`, condition: "result[0] < 0.05", want: v1alpha1.AnalysisPhaseError, wantMsg: "query returned no data"},
		{name: "query error", query: "sum(", condition: "result[0] < 0.05", want: v1alpha1.AnalysisPhaseError, wantMsg: "bad_data"},
		{name: "range query", query: "vector(3)", condition: "len(result) >= 2 && all(result, # == 3)",
			rangeQuery: &v1alpha1.PrometheusRangeQueryArgs{Start: `now() - duration("1m")`, End: "now()", Step: "30s"}, want: v1alpha1.AnalysisPhaseSuccessful},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt := metric(prom.URL, tt.query)
			mt.SuccessCondition, mt.Provider.Prometheus.RangeQuery = tt.condition, tt.rangeQuery
			m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, mt)
			if m.Phase != tt.want || !strings.Contains(m.Message, tt.wantMsg) || (tt.wantValue != "" && m.Value != tt.wantValue) {
				t.Fatalf("measurement = %s value %q %q, want %s value %q message %q", m.Phase, m.Value, m.Message, tt.want, tt.wantValue, tt.wantMsg)
			}
			if m.StartedAt == nil || m.FinishedAt == nil {
				t.Fatalf("measurement lacks its times: %+v", m)
			}
		})
	}
}

func TestMeasureSendsHeadersAndBasicAuth(t *testing.T) {
	var gotHeader, gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Get("X-Scope-OrgID")
		gotUser, gotPass, _ = r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.01"]}]}}`))
	}))
	defer srv.Close()
	mt := metric(srv.URL, "up")
	mt.Provider.Prometheus.Headers = []v1alpha1.WebMetricHeader{{Key: "X-Scope-OrgID", Value: "tenant"}}
	mt.Provider.Prometheus.Authentication = &v1alpha1.Authentication{BasicAuth: &v1alpha1.BasicAuth{Username: "u", Password: "p"}}
	m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, mt)
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful || gotHeader != "tenant" || gotUser != "u" || gotPass != "p" {
		t.Fatalf("measurement %s %q; header %q, basic auth %q:%q", m.Phase, m.Message, gotHeader, gotUser, gotPass)
	}
}

// TestMeasureResponseTooLarge: a response past the bound is an Error that says so, not a
// measurement holding the whole result.
func TestMeasureResponseTooLarge(t *testing.T) {
	saved := maxResponseBytes
	maxResponseBytes = 64 << 10
	defer func() { maxResponseBytes = saved }()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[`))
		for i := range 5000 {
			if i > 0 {
				_, _ = w.Write([]byte(","))
			}
			_, _ = fmt.Fprintf(w, `{"metric":{"pod":"p%d"},"value":[1,"0.01"]}`, i)
		}
		_, _ = w.Write([]byte(`]}}`))
	}))
	defer srv.Close()
	m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, metric(srv.URL, "up"))
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "response body is larger than 65536 bytes") {
		t.Fatalf("measurement = %s %q, want Error naming the response bound", m.Phase, m.Message)
	}
	maxResponseBytes = saved
	m = New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, metric(srv.URL, "up"))
	if m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("within the default bound: %s %q", m.Phase, m.Message)
	}
}
