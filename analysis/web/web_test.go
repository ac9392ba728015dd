package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

func webMetric(url, jsonPath, condition string) v1alpha1.Metric {
	return v1alpha1.Metric{Name: "m", SuccessCondition: condition,
		Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebMetric{URL: url, JSONPath: jsonPath}}}
}

func TestMeasure(t *testing.T) {
	type request struct{ method, body, contentType, header, token string }
	var got request
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = request{r.Method, string(b), r.Header.Get("Content-Type"), r.Header.Get("X-Team"), r.Header.Get("Authorization")}
		_, _ = w.Write([]byte(`{"data":{"ratio":0.01,"status":"green","items":[1,2,3]}}`))
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) })
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok123","token_type":"bearer","expires_in":3600}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name      string
		metric    v1alpha1.Metric
		want      v1alpha1.AnalysisPhase
		wantValue string
		wantMsg   string
		check     func(t *testing.T)
	}{
		{name: "number by jsonPath", metric: webMetric(srv.URL+"/metrics", "{$.data.ratio}", "result < 0.05"),
			want: v1alpha1.AnalysisPhaseSuccessful, wantValue: "0.01"},
		{name: "string by jsonPath", metric: webMetric(srv.URL+"/metrics", "{$.data.status}", `result == "green"`),
			want: v1alpha1.AnalysisPhaseSuccessful, wantValue: "green"},
		{name: "whole document", metric: webMetric(srv.URL+"/metrics", "", "result.data.ratio > 0.05"),
			want: v1alpha1.AnalysisPhaseFailed},
		{name: "several matches", metric: webMetric(srv.URL+"/metrics", "{$.data.items[*]}", "len(result) == 3"),
			want: v1alpha1.AnalysisPhaseSuccessful, wantValue: "[1,2,3]"},
		{name: "no match", metric: webMetric(srv.URL+"/metrics", "{$.data.missing}", "result < 1"),
			want: v1alpha1.AnalysisPhaseError, wantMsg: "missing is not found"},
		{name: "non-2xx", metric: webMetric(srv.URL+"/broken", "", ""),
			want: v1alpha1.AnalysisPhaseError, wantMsg: "received non-2xx response code 503: down for maintenance"},
		{name: "not JSON", metric: webMetric(srv.URL+"/html", "", ""),
			want: v1alpha1.AnalysisPhaseError, wantMsg: "response is not JSON"},
		{name: "POST jsonBody with headers", metric: func() v1alpha1.Metric {
			m := webMetric(srv.URL+"/metrics", "{$.data.ratio}", "result < 0.05")
			m.Provider.Web.Method = v1alpha1.WebMetricMethodPost
			m.Provider.Web.JSONBody = &apiextensionsv1.JSON{Raw: []byte(`{"q":"x"}`)}
			m.Provider.Web.Headers = []v1alpha1.WebMetricHeader{{Key: "X-Team", Value: "a"}}
			return m
		}(), want: v1alpha1.AnalysisPhaseSuccessful, check: func(t *testing.T) {
			if got != (request{"POST", `{"q":"x"}`, "application/json", "a", ""}) {
				t.Errorf("request = %+v", got)
			}
		}},
		{name: "PUT body", metric: func() v1alpha1.Metric {
			m := webMetric(srv.URL+"/metrics", "{$.data.ratio}", "")
			m.Provider.Web.Method, m.Provider.Web.Body = v1alpha1.WebMetricMethodPut, "plain"
			return m
		}(), want: v1alpha1.AnalysisPhaseSuccessful, check: func(t *testing.T) {
			if got.method != "PUT" || got.body != "plain" {
				t.Errorf("request = %+v", got)
			}
		}},
		{name: "oauth2 client credentials", metric: func() v1alpha1.Metric {
			m := webMetric(srv.URL+"/metrics", "{$.data.ratio}", "")
			m.Provider.Web.Authentication = &v1alpha1.Authentication{OAuth2: &v1alpha1.OAuth2Config{TokenURL: srv.URL + "/token", ClientID: "id", ClientSecret: "s"}}
			return m
		}(), want: v1alpha1.AnalysisPhaseSuccessful, check: func(t *testing.T) {
			if got.token != "Bearer tok123" {
				t.Errorf("Authorization = %q, want the client-credentials token", got.token)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, tt.metric)
			if m.Phase != tt.want || !strings.Contains(m.Message, tt.wantMsg) || (tt.wantValue != "" && m.Value != tt.wantValue) {
				t.Fatalf("measurement = %s value %q %q; want %s value %q message %q", m.Phase, m.Value, m.Message, tt.want, tt.wantValue, tt.wantMsg)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}

func TestMeasureTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"v":1}`)) }))
	defer srv.Close()
	m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, webMetric(srv.URL, "{$.v}", "result == 1"))
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "TLS error") {
		t.Fatalf("self-signed server without insecure: %s %q, want a TLS error", m.Phase, m.Message)
	}
	mt := webMetric(srv.URL, "{$.v}", "result == 1")
	mt.Provider.Web.Insecure = true
	if m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, mt); m.Phase != v1alpha1.AnalysisPhaseSuccessful {
		t.Fatalf("insecure: %s %q", m.Phase, m.Message)
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
	mt := webMetric(srv.URL, "", "")
	mt.Provider.Web.TimeoutSeconds = 1
	m := New().Measure(context.Background(), &v1alpha1.AnalysisRun{}, mt)
	if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "timeout after 1s") {
		t.Fatalf("measurement = %s %q, want Error naming the timeout", m.Phase, m.Message)
	}
}

// FuzzSelect checks that no JSON document and no JSONPath make selection panic.
func FuzzSelect(f *testing.F) {
	f.Add(`{"data":{"ratio":0.01}}`, "{$.data.ratio}")
	f.Add(`[1,2,3]`, "{$[*]}")
	f.Add(`{"a":null}`, "{$.a}")
	f.Add(`"x"`, "{$}")
	f.Add(`{"a":[{"b":1},{"b":2}]}`, "{.a[?(@.b>1)].b}")
	f.Add(`{}`, "{range .items[*]}{.x}{end}")
	f.Fuzz(func(t *testing.T, body, path string) {
		result, str, err := Select([]byte(body), path)
		if err != nil {
			return
		}
		if s, ok := result.(string); ok && s != str {
			t.Fatalf("string result %q formatted as %q", s, str)
		}
		if _, ok := result.(string); !ok && !json.Valid([]byte(str)) {
			t.Fatalf("non-string result formatted as invalid JSON %q", str)
		}
	})
}
