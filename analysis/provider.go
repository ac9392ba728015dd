// Package analysis is the core of AnalysisRuns: the MetricProvider seam, and pure functions
// that evaluate measurements, apply a metric's limits, fold metrics into a run's phase, schedule
// the next measurements and build a run's spec from templates and arguments.
//
// Nothing in this package does I/O except through a MetricProvider; everything else is a pure
// function of its arguments (and of the time passed in), so the controller stays a thin frame.
package analysis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// MetricProvider takes one measurement of a metric. It never panics and never returns an error:
// a failure becomes a measurement in the Error phase whose message says what failed.
// A measurement that takes time (a Job) is returned in the Running phase; its provider then
// also implements Resumer.
type MetricProvider interface {
	Measure(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric) v1alpha1.Measurement
}

// Resumer is implemented by providers whose measurements stay Running for a while. Resume checks
// a Running measurement again and returns it, finished or still Running.
type Resumer interface {
	Resume(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement
}

// Terminator is implemented by providers that must stop a Running measurement when the run is
// terminated (delete a Job). Terminate returns the measurement finished.
type Terminator interface {
	Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, m v1alpha1.Measurement) v1alpha1.Measurement
}

// GarbageCollector is implemented by providers that leave objects behind (Jobs). GarbageCollect
// removes those of the metric beyond the newest keep.
type GarbageCollector interface {
	GarbageCollect(ctx context.Context, run *v1alpha1.AnalysisRun, metric v1alpha1.Metric, keep int) error
}

// Provider types, the JSON names of the MetricProvider fields.
const (
	ProviderPrometheus = "prometheus"
	ProviderWeb        = "web"
	ProviderJob        = "job"
)

// Providers maps a provider type (ProviderPrometheus, ...) to its implementation.
type Providers map[string]MetricProvider

// ErrNoData names an empty query result that the metric's conditions could not evaluate.
var ErrNoData = errors.New("query returned no data")

// ProviderType returns the JSON name of the one provider set in p ("prometheus", "datadog", ...).
func ProviderType(p v1alpha1.MetricProvider) (string, error) {
	set := map[string]bool{
		ProviderPrometheus: p.Prometheus != nil,
		ProviderWeb:        p.Web != nil,
		ProviderJob:        p.Job != nil,
		"kayenta":          p.Kayenta != nil,
		"datadog":          p.Datadog != nil,
		"wavefront":        p.Wavefront != nil,
		"newRelic":         p.NewRelic != nil,
		"cloudWatch":       p.CloudWatch != nil,
		"graphite":         p.Graphite != nil,
		"influxdb":         p.Influxdb != nil,
		"skywalking":       p.SkyWalking != nil,
		"plugin":           p.Plugin != nil,
	}
	var names []string
	for name, ok := range set {
		if ok {
			names = append(names, name)
		}
	}
	switch len(names) {
	case 0:
		return "", errors.New("no provider is set")
	case 1:
		return names[0], nil
	}
	slices.Sort(names)
	return "", fmt.Errorf("more than one provider is set: %s", strings.Join(names, ", "))
}

// NewErrorMeasurement returns a finished measurement in the Error phase for a failure that
// happened while doing what; the message names the kind of failure (DescribeError).
func NewErrorMeasurement(started time.Time, what string, err error) v1alpha1.Measurement {
	msg := DescribeError(err)
	if what != "" {
		msg = what + ": " + msg
	}
	return v1alpha1.Measurement{
		Phase:      v1alpha1.AnalysisPhaseError,
		Message:    msg,
		StartedAt:  timePtr(started),
		FinishedAt: timePtr(time.Now()),
	}
}

// DescribeError returns err's message prefixed with the kind of failure when it is a common one:
// "connection refused", "timeout", "DNS lookup failed", "TLS error". A message that already
// starts with its kind is left as is.
func DescribeError(err error) string {
	if err == nil {
		return "unknown error"
	}
	msg := err.Error()
	kind := errorKind(err)
	if kind == "" || strings.HasPrefix(msg, kind) {
		return msg
	}
	return kind + ": " + msg
}

func errorKind(err error) string {
	var netErr net.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuthErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	msg := err.Error()
	switch {
	case errors.Is(err, ErrNoData):
		return ""
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused"):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) ||
		strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "Client.Timeout exceeded"):
		return "timeout"
	case errors.As(err, &dnsErr):
		return "DNS lookup failed"
	case errors.As(err, &certErr) || errors.As(err, &unknownAuthErr) || errors.As(err, &hostErr):
		return "TLS error"
	case errors.Is(err, syscall.ECONNRESET) || strings.Contains(msg, "connection reset"):
		return "connection reset"
	}
	return ""
}

func timePtr(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
