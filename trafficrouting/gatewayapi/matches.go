package gatewayapi

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// This file converts the match conditions of setHeaderRoute and setMirrorRoute steps into Gateway
// API matches. The Gateway API matches headers exactly or by regular expression; a prefix
// becomes the regular expression of the quoted prefix followed by ".*". Every default the API
// server would fill in is written out, so that a rule built here compares equal to its stored
// copy and an unchanged rule is never written again.

// stringMatch returns the Gateway API match type ("Exact" or "RegularExpression") and value of
// a StringMatch, which must set exactly one of exact, prefix and regex.
func stringMatch(m *v1alpha1.StringMatch) (regex bool, value string, err error) {
	if m == nil {
		return false, "", errors.New("no value to match")
	}
	set := 0
	for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return false, "", errors.New("exactly one of exact, prefix and regex must be set")
	}
	switch {
	case m.Exact != "":
		return false, m.Exact, nil
	case m.Prefix != "":
		return true, regexp.QuoteMeta(m.Prefix) + ".*", nil
	default:
		return true, m.Regex, nil
	}
}

func httpHeaderMatch(name string, m *v1alpha1.StringMatch) (gatewayv1.HTTPHeaderMatch, error) {
	regex, value, err := stringMatch(m)
	if err != nil {
		return gatewayv1.HTTPHeaderMatch{}, fmt.Errorf("header %q: %w", name, err)
	}
	t := gatewayv1.HeaderMatchExact
	if regex {
		t = gatewayv1.HeaderMatchRegularExpression
	}
	return gatewayv1.HTTPHeaderMatch{Type: &t, Name: gatewayv1.HTTPHeaderName(name), Value: value}, nil
}

// httpHeaderMatches converts a setHeaderRoute step's conditions, which must all hold, into the
// headers of one HTTPRouteMatch.
func httpHeaderMatches(ms []v1alpha1.HeaderRoutingMatch) ([]gatewayv1.HTTPHeaderMatch, error) {
	out := make([]gatewayv1.HTTPHeaderMatch, 0, len(ms))
	for _, m := range ms {
		h, err := httpHeaderMatch(m.HeaderName, m.HeaderValue)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// grpcHeaderMatches is httpHeaderMatches for a GRPCRoute.
func grpcHeaderMatches(ms []v1alpha1.HeaderRoutingMatch) ([]gatewayv1.GRPCHeaderMatch, error) {
	out := make([]gatewayv1.GRPCHeaderMatch, 0, len(ms))
	for _, m := range ms {
		h, err := httpHeaderMatch(m.HeaderName, m.HeaderValue)
		if err != nil {
			return nil, err
		}
		t := gatewayv1.GRPCHeaderMatchType(*h.Type)
		out = append(out, gatewayv1.GRPCHeaderMatch{Type: &t, Name: gatewayv1.GRPCHeaderName(h.Name), Value: h.Value})
	}
	return out, nil
}

// withHTTPHeaders returns copies of matches that also require headers; a header the match
// already tests is replaced. No matches means "every request", so the result is one match on the
// default path "/" with the headers.
func withHTTPHeaders(matches []gatewayv1.HTTPRouteMatch, headers []gatewayv1.HTTPHeaderMatch) []gatewayv1.HTTPRouteMatch {
	if len(matches) == 0 {
		matches = []gatewayv1.HTTPRouteMatch{{Path: defaultPath()}}
	}
	out := make([]gatewayv1.HTTPRouteMatch, 0, len(matches))
	for _, m := range matches {
		c := *m.DeepCopy()
		c.Headers = slices.DeleteFunc(c.Headers, func(h gatewayv1.HTTPHeaderMatch) bool {
			return slices.ContainsFunc(headers, func(n gatewayv1.HTTPHeaderMatch) bool { return strings.EqualFold(string(h.Name), string(n.Name)) })
		})
		c.Headers = append(c.Headers, headers...)
		if c.Path == nil {
			c.Path = defaultPath()
		}
		out = append(out, c)
	}
	return out
}

// withGRPCHeaders is withHTTPHeaders for a GRPCRoute; no matches means one match on the headers.
func withGRPCHeaders(matches []gatewayv1.GRPCRouteMatch, headers []gatewayv1.GRPCHeaderMatch) []gatewayv1.GRPCRouteMatch {
	if len(matches) == 0 {
		matches = []gatewayv1.GRPCRouteMatch{{}}
	}
	out := make([]gatewayv1.GRPCRouteMatch, 0, len(matches))
	for _, m := range matches {
		c := *m.DeepCopy()
		c.Headers = slices.DeleteFunc(c.Headers, func(h gatewayv1.GRPCHeaderMatch) bool {
			return slices.ContainsFunc(headers, func(n gatewayv1.GRPCHeaderMatch) bool { return strings.EqualFold(string(h.Name), string(n.Name)) })
		})
		c.Headers = append(c.Headers, headers...)
		out = append(out, c)
	}
	return out
}

func defaultPath() *gatewayv1.HTTPPathMatch {
	t := gatewayv1.PathMatchPathPrefix
	v := "/"
	return &gatewayv1.HTTPPathMatch{Type: &t, Value: &v}
}

// httpMirrorMatches converts a setMirrorRoute step's matches (any one of them selects a request;
// within one, method, path and headers must all hold) into HTTPRouteMatches.
func httpMirrorMatches(ms []v1alpha1.RouteMatch) ([]gatewayv1.HTTPRouteMatch, error) {
	out := make([]gatewayv1.HTTPRouteMatch, 0, len(ms))
	for i, m := range ms {
		var hm gatewayv1.HTTPRouteMatch
		var err error
		if hm.Path, err = httpPath(m.Path); err != nil {
			return nil, fmt.Errorf("match[%d].path: %w", i, err)
		}
		if m.Method != nil {
			if m.Method.Exact == "" || m.Method.Prefix != "" || m.Method.Regex != "" {
				return nil, fmt.Errorf("match[%d].method: the Gateway API matches a method exactly only", i)
			}
			method := gatewayv1.HTTPMethod(m.Method.Exact)
			hm.Method = &method
		}
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			value := m.Headers[name]
			h, err := httpHeaderMatch(name, &value)
			if err != nil {
				return nil, fmt.Errorf("match[%d].headers: %w", i, err)
			}
			hm.Headers = append(hm.Headers, h)
		}
		out = append(out, hm)
	}
	return out, nil
}

func httpPath(m *v1alpha1.StringMatch) (*gatewayv1.HTTPPathMatch, error) {
	if m == nil {
		return defaultPath(), nil
	}
	if _, _, err := stringMatch(m); err != nil {
		return nil, err
	}
	t, v := gatewayv1.PathMatchExact, m.Exact
	switch {
	case m.Prefix != "":
		t, v = gatewayv1.PathMatchPathPrefix, m.Prefix
	case m.Regex != "":
		t, v = gatewayv1.PathMatchRegularExpression, m.Regex
	}
	return &gatewayv1.HTTPPathMatch{Type: &t, Value: &v}, nil
}

// grpcMirrorMatches converts a setMirrorRoute step's matches for a GRPCRoute, which can express
// only the header conditions: a method or path condition is an error.
func grpcMirrorMatches(ms []v1alpha1.RouteMatch) ([]gatewayv1.GRPCRouteMatch, error) {
	out := make([]gatewayv1.GRPCRouteMatch, 0, len(ms))
	for i, m := range ms {
		if m.Method != nil || m.Path != nil {
			return nil, fmt.Errorf("match[%d]: a GRPCRoute can mirror by headers only, not by method or path", i)
		}
		var gm gatewayv1.GRPCRouteMatch
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			value := m.Headers[name]
			h, err := httpHeaderMatch(name, &value)
			if err != nil {
				return nil, fmt.Errorf("match[%d].headers: %w", i, err)
			}
			t := gatewayv1.GRPCHeaderMatchType(*h.Type)
			gm.Headers = append(gm.Headers, gatewayv1.GRPCHeaderMatch{Type: &t, Name: gatewayv1.GRPCHeaderName(h.Name), Value: h.Value})
		}
		out = append(out, gm)
	}
	return out, nil
}
