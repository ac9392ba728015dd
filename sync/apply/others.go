package apply

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Others knows the fields of managed objects that other controllers own, so that the sync neither
// calls them drift nor writes them back: what the rollout controller writes on the routes, Services,
// DestinationRules and workloads its Rollouts name, and the replicas HorizontalPodAutoscalers set.
// docs/gitsync.md ("Fields other controllers own") lists the rule.
type Others struct {
	// routes are the HTTPRoutes, GRPCRoutes and VirtualServices Rollouts shift, with what each
	// Rollout claims on them (several Rollouts may share one route, each with its own Services).
	routes map[objectKey][]routeClaim
	// scaled are the objects whose spec.replicas a Rollout or an HPA sets.
	scaled map[objectKey]bool
}

type objectKey struct{ group, kind, namespace, name string }

func keyOf(o *unstructured.Unstructured) objectKey {
	gvk := o.GroupVersionKind()
	return objectKey{gvk.Group, gvk.Kind, o.GetNamespace(), o.GetName()}
}

const (
	groupGateway = "gateway.networking.k8s.io"
	groupIstio   = "networking.istio.io"
)

// NewOthers reads what the Rollouts and HorizontalPodAutoscalers (autoscaling/v1 or v2, as
// unstructured objects) name. Either may be empty. It only reads them: the Rollouts may be shared
// cache objects.
func NewOthers(rollouts []*rov1.Rollout, hpas []*unstructured.Unstructured) *Others {
	o := &Others{routes: map[objectKey][]routeClaim{}, scaled: map[objectKey]bool{}}
	for _, ro := range rollouts {
		o.addRollout(ro)
	}
	for _, h := range hpas {
		ref, _, _ := unstructured.NestedStringMap(h.Object, "spec", "scaleTargetRef")
		if ref["kind"] == "" || ref["name"] == "" {
			continue
		}
		gv, _ := schema.ParseGroupVersion(ref["apiVersion"])
		o.scaled[objectKey{gv.Group, ref["kind"], h.GetNamespace(), ref["name"]}] = true
	}
	return o
}

func (o *Others) addRollout(ro *rov1.Rollout) {
	ns := ro.Namespace
	if ref := ro.Spec.WorkloadRef; ref != nil && ref.Name != "" && ref.ScaleDown != "" && ref.ScaleDown != rov1.ScaleDownNever {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		kind := ref.Kind
		if kind == "" {
			kind = "Deployment"
		}
		o.scaled[objectKey{gv.Group, kind, ns, ref.Name}] = true
	}
	c := ro.Spec.Strategy.Canary
	if c == nil || c.TrafficRouting == nil {
		return
	}
	tr := c.TrafficRouting
	base := routeClaim{services: services{namespace: ns, canary: c.CanaryService, stable: c.StableService}}
	for _, m := range tr.ManagedRoutes {
		base.managed = append(base.managed, m.Name)
	}
	claim := func(k objectKey, rc routeClaim) { o.routes[k] = append(o.routes[k], rc) }
	if gw, err := tr.GatewayAPI(); err == nil && gw != nil {
		routeNS := ns
		if gw.Namespace != "" {
			routeNS = gw.Namespace
		}
		add := func(kind, name string) {
			if name != "" {
				claim(objectKey{groupGateway, kind, routeNS, name}, base)
			}
		}
		add("HTTPRoute", gw.HTTPRoute)
		add("GRPCRoute", gw.GRPCRoute)
		for _, r := range gw.HTTPRoutes {
			add("HTTPRoute", r.Name)
		}
		for _, r := range gw.GRPCRoutes {
			add("GRPCRoute", r.Name)
		}
	}
	if is := tr.Istio; is != nil {
		var vss []rov1.IstioVirtualService // a new slice: appending to the Rollout's could write into a shared cache object
		if is.VirtualService != nil {
			vss = append(vss, *is.VirtualService)
		}
		vss = append(vss, is.VirtualServices...)
		for i := range vss {
			rc := base
			rc.vs = &vss[i]
			if dr := is.DestinationRule; dr != nil && dr.CanarySubsetName != "" {
				rc.canarySubset, rc.stableSubset = dr.CanarySubsetName, dr.StableSubsetName
			}
			name, vsNS := virtualServiceKey(vss[i].Name, ns)
			claim(objectKey{groupIstio, "VirtualService", vsNS, name}, rc)
		}
	}
}

// virtualServiceKey resolves a trafficRouting.istio virtualService name as the rollout controller
// does: "name.namespace" names another namespace; any other name is in the Rollout's namespace.
func virtualServiceKey(name, rolloutNS string) (string, string) {
	if parts := strings.Split(name, "."); len(parts) == 2 {
		return parts[0], parts[1]
	}
	return name, rolloutNS
}

// foreign is what other writers own in one object: fields, and the named items of lists (the
// managed routes a Rollout inserts).
type foreign struct {
	fields  []path
	managed []managedItems
}

type managedItems struct {
	list  path
	names []string
}

var (
	// A Service's spec.selector is an atomic map: the hash key is filled in from live when Git sets
	// the selector without it, or the apply would take it away from the rollout controller.
	hashSelector  = path{key("spec"), atomicKey("selector"), key(rov1.PodTemplateHashLabelKey)}
	managedByAnno = path{key("metadata"), key("annotations"), key(rov1.ManagedByRolloutsAnnotationKey)}
	// A DestinationRule's subsets are an atomic list (Istio's CRDs have no list-map keys), so a
	// subset Git sets gets the live hash label even when Git gives it no labels; subsets pair by name.
	subsetHash = path{key("spec"), atomicKey("subsets"), matching(byNameOrPosition(nil, "")),
		key("labels"), key(rov1.PodTemplateHashLabelKey)}
	specReplicas = keys("spec.replicas")
)

// of returns what other writers own in obj (desired or live: only its kind and name matter).
func (o *Others) of(obj *unstructured.Unstructured) foreign {
	var f foreign
	gvk := obj.GroupVersionKind()
	switch {
	case gvk.Group == "" && gvk.Kind == "Service":
		f.fields = append(f.fields, hashSelector, managedByAnno)
	case gvk.Group == groupIstio && gvk.Kind == "DestinationRule":
		f.fields = append(f.fields, subsetHash)
	}
	if o == nil {
		return f
	}
	k := keyOf(obj)
	if o.scaled[k] {
		f.fields = append(f.fields, specReplicas)
	}
	claims := o.routes[k]
	if len(claims) == 0 {
		return f
	}
	var managed []string
	for _, c := range claims {
		for _, m := range c.managed {
			if !slices.Contains(managed, m) {
				managed = append(managed, m)
			}
		}
	}
	switch k.kind {
	case "HTTPRoute", "GRPCRoute":
		for _, c := range claims {
			f.fields = append(f.fields, c.gatewayWeights(k.namespace, managed))
		}
		if len(managed) > 0 {
			f.managed = append(f.managed, managedItems{keys("spec.rules"), managed})
		}
	case "VirtualService":
		for _, c := range claims {
			f.fields = append(f.fields, c.istioWeights(managed)...)
		}
		if len(managed) > 0 {
			f.managed = append(f.managed, managedItems{keys("spec.http"), managed})
		}
	}
	return f
}
