package istio

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/trafficrouting"
)

// This file holds the pure weight rewrites of a VirtualService: which of its routes the rollout
// names, which destinations are the canary and the stable side, and their weights. Nothing here
// does I/O.

// targets says which route destinations are the canary and which the stable side: by Service
// host (host-level routing) or, with a DestinationRule, by subset name (subset-level routing).
type targets struct {
	// namespace is the rollout's, where its Services are.
	namespace string
	// vsNamespace is the namespace of the VirtualService being rewritten (forVS sets it). Istio
	// resolves a short host in the VirtualService's namespace, so a short host names the rollout's
	// Service only in a VirtualService of the rollout's namespace; elsewhere it is another
	// namespace's Service, which the rollout must not re-weight.
	vsNamespace  string
	canaryHost   string
	stableHost   string
	canarySubset string
	stableSubset string
	// subsetHost is the host of the rollout's DestinationRule (subset-level routing), read in the
	// rollout's namespace, where the rule is. A subset name means that rule's subset only on a
	// destination to that host: the same name on another host is another rule's subset.
	subsetHost string
}

func (t targets) subsetLevel() bool { return t.canarySubset != "" }

// forVS is t for rewriting vs.
func (t targets) forVS(vs *istionetworkingv1.VirtualService) targets {
	t.vsNamespace = vs.GetNamespace()
	return t
}

// shortHosts reports whether a short host (a Service name alone) names the rollout's Services.
func (t targets) shortHosts() bool { return t.vsNamespace == t.namespace }

func (t targets) isCanary(d *networkingv1alpha3.Destination) bool {
	if t.subsetLevel() {
		return d.GetSubset() == t.canarySubset && t.toSubsetHost(d)
	}
	return hostIs(d.GetHost(), t.canaryHost, t.namespace, t.shortHosts())
}

func (t targets) isStable(d *networkingv1alpha3.Destination) bool {
	if t.subsetLevel() {
		return d.GetSubset() == t.stableSubset && t.toSubsetHost(d)
	}
	return hostIs(d.GetHost(), t.stableHost, t.namespace, t.shortHosts())
}

// toSubsetHost reports whether a destination goes to the DestinationRule's host. Istio reads a
// short host in the namespace of the object that names it: the destination's in the
// VirtualService's namespace, the rule's in the rollout's. So a short destination host in
// another namespace's VirtualService is that namespace's Service, whose subsets the rollout must
// not re-weight even when they bear the same names.
func (t targets) toSubsetHost(d *networkingv1alpha3.Destination) bool {
	return t.subsetHost != "" && resolveHost(d.GetHost(), t.vsNamespace) == resolveHost(t.subsetHost, t.namespace)
}

// resolveHost is the Service a host names when read in namespace ns, as "name.namespace": a short
// name is ns's Service; name.namespace and name.namespace.svc[.cluster domain] name that
// namespace's. Any other host (a ServiceEntry's, say) is returned whole.
func resolveHost(host, ns string) string {
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1:
		return host + "." + ns
	case len(parts) == 2 || parts[2] == "svc":
		return parts[0] + "." + parts[1]
	}
	return host
}

// hostIs reports whether a destination host names the Service svc in namespace ns:
// name.namespace, a name under name.namespace.svc, or, when short is true, the short name.
func hostIs(host, svc, ns string, short bool) bool {
	return (short && host == svc) || host == svc+"."+ns || strings.HasPrefix(host, svc+"."+ns+".svc")
}

func (t targets) describe(canary bool) string {
	switch {
	case canary && t.subsetLevel():
		return fmt.Sprintf("canary subset %q of host %q%s", t.canarySubset, t.subsetHost, t.subsetHostHint())
	case canary:
		return fmt.Sprintf("canary Service %q%s", t.canaryHost, t.qualifyHint(t.canaryHost))
	case t.subsetLevel():
		return fmt.Sprintf("stable subset %q of host %q%s", t.stableSubset, t.subsetHost, t.subsetHostHint())
	}
	return fmt.Sprintf("stable Service %q%s", t.stableHost, t.qualifyHint(t.stableHost))
}

// qualifyHint says how a VirtualService of another namespace must name the rollout's Service.
func (t targets) qualifyHint(svc string) string {
	if t.shortHosts() {
		return ""
	}
	return fmt.Sprintf(" (a VirtualService outside namespace %s must name it %s.%s or %s.%s.svc.cluster.local: a short host there is that namespace's Service)",
		t.namespace, svc, t.namespace, svc, t.namespace)
}

// subsetHostHint says how a VirtualService of another namespace must name the DestinationRule's
// host when the rule names it short.
func (t targets) subsetHostHint() string {
	if t.shortHosts() || strings.Contains(t.subsetHost, ".") {
		return ""
	}
	return fmt.Sprintf(" (the DestinationRule's host in namespace %s; a VirtualService outside it must name it %s.%s or %s.%s.svc.cluster.local)",
		t.namespace, t.subsetHost, t.namespace, t.subsetHost, t.namespace)
}

// weighted is one route destination and its weight, whatever the route's protocol.
type weighted struct {
	dest   *networkingv1alpha3.Destination
	weight *int32
}

// split is one route whose weights the router owns, with its destinations.
type split struct {
	desc  string // `http route "primary"`, `tls route 0`
	dests []weighted
}

// selectSplits returns the routes of vs that ref names (plus managed mirror routes that split
// between canary and stable), checking that each names both sides. A route name that is not in
// vs, or a named route without a canary or stable destination, is a ConfigError.
func selectSplits(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService, t targets, managed []string) ([]split, error) {
	t = t.forVS(vs)
	https, err := selectHTTP(vs, ref, managed)
	if err != nil {
		return nil, err
	}
	var out []split
	for _, r := range https {
		out = append(out, split{desc: fmt.Sprintf("http route %q", r.GetName()), dests: httpDests(r)})
	}
	for _, tr := range ref.TLSRoutes {
		idx := matchingTLS(vs.Spec.GetTls(), tr)
		if len(idx) == 0 {
			return nil, configError("VirtualService %s has no tls route for port %d and sniHosts %v", key(vs), tr.Port, tr.SNIHosts)
		}
		for _, i := range idx {
			out = append(out, split{desc: fmt.Sprintf("tls route %d", i), dests: l4Dests(vs.Spec.Tls[i].GetRoute())})
		}
	}
	for _, tr := range ref.TCPRoutes {
		idx := matchingTCP(vs.Spec.GetTcp(), tr)
		if len(idx) == 0 {
			return nil, configError("VirtualService %s has no tcp route for port %d", key(vs), tr.Port)
		}
		for _, i := range idx {
			out = append(out, split{desc: fmt.Sprintf("tcp route %d", i), dests: l4Dests(vs.Spec.Tcp[i].GetRoute())})
		}
	}
	for _, s := range out {
		if err := t.checkSplit(vs, s); err != nil {
			return nil, err
		}
	}
	for _, r := range vs.Spec.GetHttp() {
		if slices.Contains(managed, r.GetName()) && r.GetMirror() != nil && t.splits(httpDests(r)) {
			out = append(out, split{desc: fmt.Sprintf("http route %q", r.GetName()), dests: httpDests(r)})
		}
	}
	return out, nil
}

// selectHTTP returns the http routes ref names; with no names, the VirtualService's only
// unmanaged http route. None is fine when ref selects tls or tcp routes instead: then a
// VirtualService without http routes (a TLS-only one) skips http handling even if ref names http
// routes, as Argo Rollouts does.
func selectHTTP(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService, managed []string) ([]*networkingv1alpha3.HTTPRoute, error) {
	l4 := len(ref.TLSRoutes) > 0 || len(ref.TCPRoutes) > 0
	if len(vs.Spec.GetHttp()) == 0 && l4 {
		return nil, nil
	}
	if len(ref.Routes) == 0 {
		own := trafficrouting.RemoveManaged(vs.Spec.GetHttp(), managed, (*networkingv1alpha3.HTTPRoute).GetName)
		switch {
		case len(own) == 1:
			return own, nil
		case len(own) == 0 && l4:
			return nil, nil
		case len(own) == 0:
			return nil, configError("VirtualService %s has no http route", key(vs))
		}
		return nil, configError("VirtualService %s has %d http routes: name the ones to change in virtualService.routes", key(vs), len(own))
	}
	var out []*networkingv1alpha3.HTTPRoute
	for _, name := range ref.Routes {
		i := slices.IndexFunc(vs.Spec.GetHttp(), func(r *networkingv1alpha3.HTTPRoute) bool { return r.GetName() == name })
		if i < 0 {
			return nil, configError("VirtualService %s has no http route named %q", key(vs), name)
		}
		out = append(out, vs.Spec.Http[i])
	}
	return out, nil
}

// matchingTLS returns the indexes of the tls routes whose every match is on tr's port with
// exactly tr's SNI hosts.
func matchingTLS(routes []*networkingv1alpha3.TLSRoute, tr v1alpha1.TLSRoute) []int {
	var out []int
	for i, r := range routes {
		ok := len(r.GetMatch()) > 0
		for _, m := range r.GetMatch() {
			ok = ok && int64(m.GetPort()) == tr.Port && sameSet(m.GetSniHosts(), tr.SNIHosts)
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// matchingTCP returns the indexes of the tcp routes whose every match is on tr's port.
func matchingTCP(routes []*networkingv1alpha3.TCPRoute, tr v1alpha1.TCPRoute) []int {
	var out []int
	for i, r := range routes {
		ok := len(r.GetMatch()) > 0
		for _, m := range r.GetMatch() {
			ok = ok && int64(m.GetPort()) == tr.Port
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func (t targets) splits(ds []weighted) bool {
	return slices.ContainsFunc(ds, func(d weighted) bool { return t.isCanary(d.dest) }) &&
		slices.ContainsFunc(ds, func(d weighted) bool { return t.isStable(d.dest) })
}

func (t targets) checkSplit(vs *istionetworkingv1.VirtualService, s split) error {
	if !slices.ContainsFunc(s.dests, func(d weighted) bool { return t.isCanary(d.dest) }) {
		return configError("%s of VirtualService %s has no destination for the %s", s.desc, key(vs), t.describe(true))
	}
	if !slices.ContainsFunc(s.dests, func(d weighted) bool { return t.isStable(d.dest) }) {
		return configError("%s of VirtualService %s has no destination for the %s", s.desc, key(vs), t.describe(false))
	}
	return nil
}

func httpDests(r *networkingv1alpha3.HTTPRoute) []weighted {
	out := make([]weighted, 0, len(r.GetRoute()))
	for _, d := range r.GetRoute() {
		out = append(out, weighted{dest: d.GetDestination(), weight: &d.Weight})
	}
	return out
}

func l4Dests(ds []*networkingv1alpha3.RouteDestination) []weighted {
	out := make([]weighted, 0, len(ds))
	for _, d := range ds {
		out = append(out, weighted{dest: d.GetDestination(), weight: &d.Weight})
	}
	return out
}

// setVSWeights writes the canary and stable weights into every destination of the selected
// routes; other destinations keep their weights.
func setVSWeights(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService, t targets, managed []string, w trafficrouting.Weights) (bool, error) {
	t = t.forVS(vs)
	splits, err := selectSplits(vs, ref, t, managed)
	if err != nil {
		return false, err
	}
	changed := false
	for _, s := range splits {
		for _, d := range s.dests {
			if want, ok := t.weightFor(d.dest, w); ok && *d.weight != want {
				*d.weight = want
				changed = true
			}
		}
	}
	return changed, nil
}

// vsWeightsHeld reports whether the selected routes carry the desired weights.
func vsWeightsHeld(vs *istionetworkingv1.VirtualService, ref v1alpha1.IstioVirtualService, t targets, managed []string, w trafficrouting.Weights) (bool, error) {
	t = t.forVS(vs)
	splits, err := selectSplits(vs, ref, t, managed)
	if err != nil {
		return false, err
	}
	for _, s := range splits {
		for _, d := range s.dests {
			if want, ok := t.weightFor(d.dest, w); ok && *d.weight != want {
				return false, nil
			}
		}
	}
	return true, nil
}

func (t targets) weightFor(d *networkingv1alpha3.Destination, w trafficrouting.Weights) (int32, bool) {
	switch {
	case t.isCanary(d):
		return w.Canary.Weight, true
	case t.isStable(d):
		return w.Stable.Weight, true
	}
	return 0, false
}

// sameRoutes reports whether two lists of http routes are equal, route by route.
func sameRoutes(a, b []*networkingv1alpha3.HTTPRoute) bool {
	return slices.EqualFunc(a, b, func(x, y *networkingv1alpha3.HTTPRoute) bool { return proto.Equal(x, y) })
}
