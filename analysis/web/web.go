// Package web is the web metric provider: it calls an HTTP endpoint, selects a value from the
// JSON response with a JSONPath and evaluates it under the metric's conditions.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/analysis/internal/httpclient"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// maxBody bounds the response read, so a misbehaving endpoint cannot exhaust memory (a
// variable so that tests can lower it).
var maxBody int64 = analysis.MaxResponseBytes

// Provider measures web metrics.
type Provider struct{}

// New returns the web provider.
func New() *Provider { return &Provider{} }

var _ analysis.MetricProvider = (*Provider)(nil)

// Measure calls the metric's URL (method GET, POST or PUT; timeoutSeconds, default 10) and binds
// the JSONPath's match (default the whole response) to `result`: a JSON number is a float64, a
// string a string, and several matches a list. A non-2xx status, a body that is not JSON or a
// JSONPath that matches nothing is an Error measurement that says so.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric v1alpha1.Metric) v1alpha1.Measurement {
	started := time.Now()
	wm := metric.Provider.Web
	if wm == nil {
		return analysis.NewErrorMeasurement(started, "", errors.New("metric has no web provider"))
	}
	timeout := analysis.ProviderTimeout(wm.GetTimeoutSeconds())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := call(ctx, wm, timeout)
	if err != nil {
		// The client's own timeout and the context's deadline are the same length: either may
		// fire first.
		var netErr net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
			err = fmt.Errorf("timeout after %s: %w", timeout, err)
		}
		return analysis.NewErrorMeasurement(started, fmt.Sprintf("%s %s", wm.GetMethod(), wm.URL), err)
	}
	result, str, err := Select(body, wm.GetJSONPath())
	if err != nil {
		return analysis.NewErrorMeasurement(started, "", err)
	}
	return analysis.NewMeasurement(metric, started, result, str)
}

func call(ctx context.Context, wm *v1alpha1.WebMetric, timeout time.Duration) ([]byte, error) {
	hc, err := httpclient.New(ctx, httpclient.Options{Insecure: wm.Insecure, Timeout: timeout, Headers: wm.Headers, Auth: wm.Authentication,
		MaxResponseBytes: maxBody})
	if err != nil {
		return nil, err
	}
	var reqBody io.Reader
	contentType := ""
	switch {
	case wm.JSONBody != nil && len(wm.JSONBody.Raw) > 0:
		reqBody, contentType = bytes.NewReader(wm.JSONBody.Raw), "application/json"
	case wm.Body != "":
		reqBody = strings.NewReader(wm.Body)
	}
	method := string(wm.GetMethod())
	if reqBody != nil && method == http.MethodGet {
		return nil, errors.New("a request body needs method POST or PUT")
	}
	req, err := http.NewRequestWithContext(ctx, method, wm.URL, reqBody)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return nil, fmt.Errorf("received non-2xx response code %d: %s", resp.StatusCode, truncate(string(body), 200))
	}
	return body, nil
}

// Select parses body as JSON and applies the JSONPath (client-go syntax, e.g. "{$.data.ratio}"),
// returning the match bound to `result` and its string form.
func Select(body []byte, path string) (any, string, error) {
	var data any
	if err := json.Unmarshal(body, &data); err != nil {
		return nil, "", fmt.Errorf("response is not JSON: %v", err)
	}
	jp := jsonpath.New("metric")
	if err := jp.Parse(path); err != nil {
		return nil, "", fmt.Errorf("jsonPath %q: %v", path, err)
	}
	found, err := jp.FindResults(data)
	if err != nil {
		return nil, "", fmt.Errorf("jsonPath %q: %v", path, err)
	}
	var values []any
	for _, group := range found {
		for _, v := range group {
			if v.IsValid() && v.CanInterface() {
				values = append(values, v.Interface())
			} else {
				values = append(values, nil)
			}
		}
	}
	var result any
	switch len(values) {
	case 0:
		return nil, "", fmt.Errorf("%w: jsonPath %q matched nothing", analysis.ErrNoData, path)
	case 1:
		result = values[0]
	default:
		result = values
	}
	return result, FormatValue(result), nil
}

// FormatValue is a result's string form: a string as it is, anything else as JSON.
func FormatValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
