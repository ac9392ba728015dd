package apply

import (
	"slices"
	"strings"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// This file says which route weights the rollout controller owns: the same backends and
// destinations its routers (trafficrouting/gatewayapi, trafficrouting/istio) write, read from
// unstructured objects. A backend to any other Service keeps Git's weight, and a change to it is
// drift.

// routeClaim is what one Rollout shifts on one route (an HTTPRoute, GRPCRoute or VirtualService).
type routeClaim struct {
	// managed are the names of the Rollout's header and mirror routes.
	managed  []string
	services services
	// vs is the Rollout's reference to this VirtualService: the http, tls and tcp routes it names.
	vs *rov1.IstioVirtualService
	// canarySubset and stableSubset tell canary from stable destinations by subset when the
	// Rollout names a DestinationRule (subset-level routing); otherwise destinations are told
	// apart by host.
	canarySubset, stableSubset string
}

// services are a Rollout's canary and stable Services; they live in the Rollout's namespace.
type services struct{ namespace, canary, stable string }

const (
	roleCanary = "canary"
	roleStable = "stable"
)

// backendRole says whether a Gateway API backendRef (unstructured) is the canary or the stable
// Service, as the Gateway API router decides: the name, an empty or absent group, kind Service or
// none, and the namespace (the route's when absent) of the Services. "" for any other backend.
func (s services) backendRole(ref any, routeNS string) string {
	m, _ := ref.(map[string]any)
	name, _ := m["name"].(string)
	if name == "" {
		return ""
	}
	if g, _ := m["group"].(string); g != "" {
		return ""
	}
	if k, ok := m["kind"]; ok && k != nil && k != "Service" {
		return ""
	}
	ns := routeNS
	if n, _ := m["namespace"].(string); n != "" {
		ns = n
	}
	if ns != s.namespace {
		return ""
	}
	switch name {
	case s.canary:
		return roleCanary
	case s.stable:
		return roleStable
	}
	return ""
}

// hostNames reports whether an Istio destination host names the Service svc of namespace ns, as
// the Istio router reads hosts: the short name, svc.ns, or a name under svc.ns.svc
// (svc.ns.svc.cluster.local).
func hostNames(host, svc, ns string) bool {
	if svc == "" {
		return false
	}
	labels := strings.Split(host, ".")
	switch {
	case labels[0] != svc:
		return false
	case len(labels) == 1:
		return true
	case len(labels) == 2:
		return labels[1] == ns
	}
	return labels[1] == ns && labels[2] == "svc"
}

// gatewayWeights is the path of the weights the claim owns on an HTTPRoute or GRPCRoute in
// routeNS: the weight of each backendRef to the canary or stable Service, in the rules whose
// backends include both (the rules the router sets weights in). Rules pair by name, then by equal
// matches, then by position; backendRefs pair by the Service they name. spec.rules is atomic, so a
// weight Git leaves out of a backend it sets is filled in from live.
func (c routeClaim) gatewayWeights(routeNS string, managed []string) path {
	role := func(ref any) string { return c.services.backendRole(ref, routeNS) }
	splits := func(rule any) bool {
		if name := nameOf(rule); name != "" && slices.Contains(managed, name) {
			return false // a managed rule is the rollout controller's whole
		}
		refs, _ := field(rule, "backendRefs").([]any)
		var canary, stable bool
		for _, ref := range refs {
			r := role(ref)
			canary, stable = canary || r == roleCanary, stable || r == roleStable
		}
		return canary && stable
	}
	return path{key("spec"), atomicKey("rules"), matching(byNameOrPosition(splits, "matches")),
		key("backendRefs"), matching(byRole(role)), key("weight")}
}

// istioWeights are the paths of the weights the claim owns on a VirtualService: in the http
// routes the Rollout names (every unmanaged http route when it names none, as Argo Rollouts
// reads it) and the tls and tcp routes its tlsRoutes and tcpRoutes select, the weight of each
// destination that is the canary or the stable side. Routes pair by name, then by equal match,
// then by position; destinations pair by side. Istio's lists are atomic, so a weight Git leaves
// out of a destination it sets is filled in from live.
func (c routeClaim) istioWeights(managed []string) []path {
	dest := matching(byRole(c.destinationRole))
	http := func(route any) bool {
		name := nameOf(route)
		if name != "" && slices.Contains(managed, name) {
			return false
		}
		return len(c.vs.Routes) == 0 || slices.Contains(c.vs.Routes, name)
	}
	out := []path{{key("spec"), atomicKey("http"), matching(byNameOrPosition(http, "match")),
		key("route"), dest, key("weight")}}
	for _, tr := range c.vs.TLSRoutes {
		sel := func(route any) bool { return l4Matches(route, tr.Port, tr.SNIHosts, true) }
		out = append(out, path{key("spec"), atomicKey("tls"), matching(byNameOrPosition(sel, "match")),
			key("route"), dest, key("weight")})
	}
	for _, tr := range c.vs.TCPRoutes {
		sel := func(route any) bool { return l4Matches(route, tr.Port, nil, false) }
		out = append(out, path{key("spec"), atomicKey("tcp"), matching(byNameOrPosition(sel, "match")),
			key("route"), dest, key("weight")})
	}
	return out
}

// destinationRole says whether an Istio route destination (unstructured) is the canary or the
// stable side: by subset with subset-level routing, else by host. "" for any other destination.
func (c routeClaim) destinationRole(item any) string {
	d, _ := field(item, "destination").(map[string]any)
	host, _ := d["host"].(string)
	subset, _ := d["subset"].(string)
	if c.canarySubset != "" {
		switch subset {
		case c.canarySubset:
			return roleCanary
		case c.stableSubset:
			return roleStable
		}
		return ""
	}
	switch {
	case hostNames(host, c.services.canary, c.services.namespace):
		return roleCanary
	case hostNames(host, c.services.stable, c.services.namespace):
		return roleStable
	}
	return ""
}

// l4Matches reports whether a tls or tcp route (unstructured) is one a tlsRoutes or tcpRoutes
// entry selects, as the Istio router selects them: every match is on port and, for tls, has
// exactly sniHosts.
func l4Matches(route any, port int64, sniHosts []string, tls bool) bool {
	matches, _ := field(route, "match").([]any)
	if len(matches) == 0 {
		return false
	}
	for _, m := range matches {
		p, _ := number(field(m, "port"))
		if int64(p) != port {
			return false
		}
		if tls && !sameHosts(field(m, "sniHosts"), sniHosts) {
			return false
		}
	}
	return true
}

func sameHosts(got any, want []string) bool {
	list, _ := got.([]any)
	var hosts []string
	for _, h := range list {
		s, _ := h.(string)
		hosts = append(hosts, s)
	}
	want = slices.Clone(want)
	slices.Sort(hosts)
	slices.Sort(want)
	return slices.Equal(slices.Compact(hosts), slices.Compact(want))
}

// byRole picks the list items role names (canary or stable) and pairs the k-th item of a role in
// one list with the k-th item of that role in the other: a backend pairs with the backend to the
// same Service however Git and the cluster order them or spell its defaults (group, kind, a
// host's FQDN).
func byRole(role func(any) string) *itemMatch {
	return &itemMatch{
		selects: func(item any) bool { return role(item) != "" },
		pair: func(dst []any, i int, src []any) int {
			r := role(dst[i])
			if r == "" {
				return -1
			}
			k := 0
			for _, it := range dst[:i] {
				if role(it) == r {
					k++
				}
			}
			for j, it := range src {
				if role(it) != r {
					continue
				}
				if k == 0 {
					return j
				}
				k--
			}
			return -1
		},
	}
}

// byNameOrPosition picks the list items selects picks (all when nil) and pairs them by name. An
// unnamed item pairs with an unnamed item whose matchField Git's contains as Drift compares (Git
// may have added a rule before it), else with the unnamed item at its position (Git may have
// edited its matches): lists Git and the cluster share hold the same items in the same order once
// the managed items are set aside.
func byNameOrPosition(selects func(any) bool, matchField string) *itemMatch {
	if selects == nil {
		selects = func(any) bool { return true }
	}
	unnamed := func(item any) bool { return nameOf(item) == "" && selects(item) }
	return &itemMatch{
		selects: selects,
		pair: func(dst []any, i int, src []any) int {
			if name := nameOf(dst[i]); name != "" {
				return slices.IndexFunc(src, func(it any) bool { return nameOf(it) == name && selects(it) })
			}
			if want := field(dst[i], matchField); matchField != "" && want != nil {
				if j := slices.IndexFunc(src, func(it any) bool { return unnamed(it) && contains(want, field(it, matchField)) }); j >= 0 {
					return j
				}
			}
			if i < len(src) && unnamed(src[i]) {
				return i
			}
			return -1
		},
	}
}

// field is the value of a key of a map item, nil when the item is no map or lacks it.
func field(item any, k string) any {
	m, _ := item.(map[string]any)
	return m[k]
}

func nameOf(item any) string {
	s, _ := field(item, "name").(string)
	return s
}
