package main

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// apiRequests counts the controller's requests to the API server by verb and resource, so an
// operator (and bench/scale) can see where the requests of a rollout go. client-go's own
// rest_client_requests_total only knows the HTTP method.
var apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "sluice_api_requests_total",
	Help: "Requests the controller sent to the Kubernetes API server, by verb and resource[/subresource].",
}, []string{"verb", "resource"})

func init() {
	ctrlmetrics.Registry.MustRegister(apiRequests)
}

// countRequests wraps the transport of cfg so that every request is counted in apiRequests.
func countRequests(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return countingTransport{next: rt}
	})
}

type countingTransport struct{ next http.RoundTripper }

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	verb, resource := requestKind(req.Method, req.URL.Path, req.URL.Query().Get("watch"))
	apiRequests.WithLabelValues(verb, resource).Inc()
	return t.next.RoundTrip(req)
}

// requestKind names a request the way the API server's audit log does: the verb (get, list,
// watch, create, update, patch, delete) and resource[/subresource]. Paths outside /api and /apis
// (discovery, version) are "discovery".
func requestKind(method, path, watch string) (verb, resource string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		parts = parts[2:] // api/v1
	case len(parts) >= 4 && parts[0] == "apis":
		parts = parts[3:] // apis/group/version
	default:
		return strings.ToLower(method), "discovery"
	}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	resource = parts[0]
	named := len(parts) >= 2
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	switch method {
	case http.MethodGet:
		switch {
		case watch == "true" || watch == "1":
			verb = "watch"
		case named:
			verb = "get"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if !named {
			verb = "deletecollection"
		}
	default:
		verb = strings.ToLower(method)
	}
	return verb, resource
}
