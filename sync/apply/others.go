package apply

import (
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
	// routes are the HTTPRoutes, GRPCRoutes and VirtualServices a Rollout shifts, with the names
	// of its managed (header and mirror) routes.
	routes map[objectKey][]string
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
// unstructured objects) name. Either may be empty.
func NewOthers(rollouts []*rov1.Rollout, hpas []*unstructured.Unstructured) *Others {
	o := &Others{routes: map[objectKey][]string{}, scaled: map[objectKey]bool{}}
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
	var managed []string
	for _, m := range tr.ManagedRoutes {
		managed = append(managed, m.Name)
	}
	if gw, err := tr.GatewayAPI(); err == nil && gw != nil {
		routeNS := ns
		if gw.Namespace != "" {
			routeNS = gw.Namespace
		}
		add := func(kind, name string) {
			if name != "" {
				o.routes[objectKey{groupGateway, kind, routeNS, name}] = managed
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
		vss := is.VirtualServices
		if is.VirtualService != nil {
			vss = append(vss, *is.VirtualService)
		}
		for _, vs := range vss {
			name, vsNS := vs.Name, ns
			if n, rest, ok := strings.Cut(vs.Name, "."); ok { // name.namespace, as Argo Rollouts reads it
				name, vsNS = n, rest
			}
			o.routes[objectKey{groupIstio, "VirtualService", vsNS, name}] = managed
		}
	}
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
	hashSelector  = path{key("spec"), key("selector"), key(rov1.PodTemplateHashLabelKey)}
	managedByAnno = path{key("metadata"), key("annotations"), key(rov1.ManagedByRolloutsAnnotationKey)}
	subsetHash    = keys("spec.subsets").then(each(), key("labels"), key(rov1.PodTemplateHashLabelKey))
	specReplicas  = keys("spec.replicas")
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
	managed, shifted := o.routes[k]
	if !shifted {
		return f
	}
	switch gvk.Kind {
	case "HTTPRoute", "GRPCRoute":
		f.fields = append(f.fields, keys("spec.rules").then(each(), key("backendRefs"), each(), key("weight")))
		f.managed = append(f.managed, managedItems{keys("spec.rules"), managed})
	case "VirtualService":
		for _, list := range []string{"http", "tls", "tcp"} {
			f.fields = append(f.fields, keys("spec."+list).then(each(), key("route"), each(), key("weight")))
		}
		f.managed = append(f.managed, managedItems{keys("spec.http"), managed})
	}
	return f
}
