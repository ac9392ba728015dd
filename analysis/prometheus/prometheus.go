// Package prometheus is the prometheus metric provider: it runs an instant or range query through
// client_golang's api v1 and evaluates the result under the metric's conditions.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sluice-dev/sluice/analysis"
	"github.com/sluice-dev/sluice/analysis/internal/httpclient"
	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// maxResponseBytes bounds the query response read (a variable so that tests can lower it).
var maxResponseBytes int64 = analysis.MaxResponseBytes

// Provider measures prometheus metrics.
type Provider struct{}

// New returns the prometheus provider.
func New() *Provider { return &Provider{} }

var _ analysis.MetricProvider = (*Provider)(nil)

// Measure runs the metric's query. A vector or a range query's matrix becomes []float64 (every
// sample of every series, in order), a scalar a float64. A failed query, including a timeout
// (timeout seconds, default 30) or an unreachable server, is an Error measurement that says so.
func (p *Provider) Measure(ctx context.Context, _ *v1alpha1.AnalysisRun, metric v1alpha1.Metric) v1alpha1.Measurement {
	started := time.Now()
	pm := metric.Provider.Prometheus
	if pm == nil {
		return analysis.NewErrorMeasurement(started, "", errors.New("metric has no prometheus provider"))
	}
	timeout := analysis.ProviderTimeout(pm.GetTimeoutSeconds())
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	value, err := query(ctx, pm, started)
	if err != nil {
		// The HTTP client's timeout and the context's deadline may fire in either order.
		var netErr net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
			err = fmt.Errorf("timeout after %s: %w", timeout, err)
		}
		return analysis.NewErrorMeasurement(started, "query prometheus at "+pm.Address, err)
	}
	result, str, err := ConvertValue(value)
	if err != nil {
		return analysis.NewErrorMeasurement(started, "", err)
	}
	return analysis.NewMeasurement(metric, started, result, str)
}

func query(ctx context.Context, pm *v1alpha1.PrometheusMetric, now time.Time) (model.Value, error) {
	hc, err := httpclient.New(ctx, httpclient.Options{Insecure: pm.Insecure, Headers: pm.Headers, Auth: pm.Authentication,
		MaxResponseBytes: maxResponseBytes})
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient(api.Config{Address: pm.Address, Client: hc})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	v1api := promv1.NewAPI(c)
	if pm.RangeQuery == nil {
		v, _, _, err := v1api.Query(ctx, pm.Query, now)
		return v, err
	}
	r, err := ParseRange(*pm.RangeQuery, now)
	if err != nil {
		return nil, err
	}
	v, _, _, err := v1api.QueryRange(ctx, pm.Query, r)
	return v, err
}

// ParseRange reads a rangeQuery: start and end are expr-lang expressions yielding a time, such as
// `now() - duration("5m")` (end defaults to now()), and step a duration such as "1m" or "30s".
func ParseRange(rq v1alpha1.PrometheusRangeQueryArgs, now time.Time) (promv1.Range, error) {
	var r promv1.Range
	if rq.Start == "" {
		return r, errors.New("rangeQuery.start is required")
	}
	var err error
	if r.Start, err = evalTime(rq.Start, now); err != nil {
		return r, fmt.Errorf("rangeQuery.start %q: %w", rq.Start, err)
	}
	r.End = now
	if rq.End != "" {
		if r.End, err = evalTime(rq.End, now); err != nil {
			return r, fmt.Errorf("rangeQuery.end %q: %w", rq.End, err)
		}
	}
	step, err := model.ParseDuration(rq.Step)
	if err != nil || step <= 0 {
		return r, fmt.Errorf("rangeQuery.step %q is not a positive duration", rq.Step)
	}
	r.Step = time.Duration(step)
	if r.End.Before(r.Start) {
		return r, fmt.Errorf("rangeQuery end %s is before start %s", r.End.Format(time.RFC3339), r.Start.Format(time.RFC3339))
	}
	return r, nil
}

func evalTime(expression string, now time.Time) (t time.Time, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluation panicked: %v", r)
		}
	}()
	// now() is the measurement's time, so that start and end agree with each other.
	nowFn := expr.Function("now", func(...any) (any, error) { return now, nil }, new(func() time.Time))
	program, err := expr.Compile(expression, nowFn)
	if err != nil {
		return time.Time{}, err
	}
	out, err := expr.Run(program, nil)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := out.(time.Time)
	if !ok {
		return time.Time{}, fmt.Errorf("expected a time, got %T", out)
	}
	return t, nil
}

// ConvertValue turns a query result into the value bound to `result` and its string form: a
// scalar is a float64 ("0.5"), a vector a []float64 ("[0.5,NaN]"), a matrix the []float64 of all
// its samples, series after series. Strings and a missing result are errors.
func ConvertValue(v model.Value) (any, string, error) {
	switch x := v.(type) {
	case *model.Scalar:
		if x == nil {
			return nil, "", errors.New("query returned a nil scalar")
		}
		f := float64(x.Value)
		return f, FormatFloat(f), nil
	case model.Vector:
		out := make([]float64, 0, len(x))
		for _, s := range x {
			if s != nil {
				out = append(out, float64(s.Value))
			}
		}
		return out, FormatFloats(out), nil
	case model.Matrix:
		out := []float64{}
		for _, series := range x {
			if series == nil {
				continue
			}
			for _, s := range series.Values {
				out = append(out, float64(s.Value))
			}
		}
		return out, FormatFloats(out), nil
	case nil:
		return nil, "", errors.New("query returned no result")
	}
	return nil, "", fmt.Errorf("query returned a %s, not a scalar, vector or matrix", v.Type())
}

// FormatFloat formats like Prometheus: shortest form, NaN, +Inf, -Inf.
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// FormatFloats formats a list as "[a,b]".
func FormatFloats(fs []float64) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = FormatFloat(f)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
