package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	networkingv1 "istio.io/api/networking/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// BenchmarkRouteLatency (bench/route-latency): a 5-replica canary [20%, pause, 60%, pause] routed
// by an HTTPRoute (a fake gateway accepts every generation) or an Istio VirtualService, updated 10
// times per router. It reports the time from the promote of the first pause to the route at 60%
// and to status.canary.weights at 60% verified (and, to tell the pods' part from the
// controller's, to the canary's third pod available and from there to the route), and from an
// abort (status.abort=true) at the second pause to the route back at 100% stable and to Degraded.
func BenchmarkRouteLatency(b *testing.B) {
	const repeats = 10
	ctrl := startController(b)
	rows := map[string]stats{}
	extra := map[string]float64{}
	for _, rc := range []routeCase{httpRouteCase(), virtualServiceCase()} {
		ns := newBenchNamespace(b)
		rc.setup(b, ns)
		ro := routedRollout(ns, rc.routing, []v1alpha1.CanaryStep{
			{SetWeight: ptr.To[int32](20)}, {Pause: &v1alpha1.RolloutPause{}},
			{SetWeight: ptr.To[int32](60)}, {Pause: &v1alpha1.RolloutPause{}},
		})
		if err := env.client.Create(context.Background(), ro); err != nil {
			b.Fatal(err)
		}
		waitHealthy(b, ns, "web")

		var toAvailable, toRoute, toVerified, availableToRoute, toStable, toDegraded []float64
		startReq := ctrl.requests(b)
		for i := range repeats {
			t := timeRouteSteps(b, ns, rc, fmt.Sprintf("app:%d", i+2))
			toAvailable = append(toAvailable, t.available.Seconds())
			toRoute = append(toRoute, t.route.Seconds())
			toVerified = append(toVerified, t.verified.Seconds())
			availableToRoute = append(availableToRoute, (t.route - t.available).Seconds())
			toStable = append(toStable, t.stable.Seconds())
			toDegraded = append(toDegraded, t.degraded.Seconds())
		}
		rows[rc.name+": promote -> canary 3 available (s)"] = summarize(toAvailable)
		rows[rc.name+": promote -> route at 60 (s)"] = summarize(toRoute)
		rows[rc.name+": promote -> status 60 verified (s)"] = summarize(toVerified)
		rows[rc.name+": pods available -> route at 60 (s)"] = summarize(availableToRoute)
		rows[rc.name+": abort -> route 100/0 stable (s)"] = summarize(toStable)
		rows[rc.name+": abort -> Degraded (s)"] = summarize(toDegraded)
		extra[rc.name+": API requests per update"] = (ctrl.requests(b) - startReq) / repeats
	}
	extra["controller CPU seconds (whole run)"] = ctrl.cpuSeconds(b)
	report(b, "bench/route-latency", rows, extra)
}

// timeRouteSteps sets the image, waits for the first pause at 80/20, promotes it and times the
// 60% step, waits for the second pause, aborts and times the way back to 100/0.
func timeRouteSteps(b *testing.B, ns string, rc routeCase, image string) routeTimes {
	b.Helper()
	f := followObjects(b, ns, rc.list, "web")
	defer f.stop()
	setBenchImage(b, ns, "web", image)
	f.until(b, time.Minute, "the first pause at 80/20", func(time.Time) bool {
		return pausedAt(f.rollout, image, 1) && f.route == [2]int32{80, 20}
	})

	promoted := time.Now()
	patchBenchStatus(b, ns, "web", `{"status":{"pauseConditions":null}}`)
	var availableAt, routeAt, verifiedAt time.Time
	f.until(b, time.Minute, "the 60% step at the route and verified in the status", func(at time.Time) bool {
		if rs := f.sets[f.rollout.Status.CurrentPodHash]; availableAt.IsZero() && rs != nil && rs.Status.AvailableReplicas >= 3 {
			availableAt = at
		}
		if routeAt.IsZero() && f.route == [2]int32{40, 60} {
			routeAt = at
		}
		if w := f.rollout.Status.Canary.Weights; verifiedAt.IsZero() && w != nil && w.Canary.Weight == 60 && ptr.Deref(w.Verified, false) {
			verifiedAt = at
		}
		return !availableAt.IsZero() && !routeAt.IsZero() && !verifiedAt.IsZero()
	})
	f.until(b, time.Minute, "the second pause", func(time.Time) bool { return pausedAt(f.rollout, image, 3) })

	aborted := time.Now()
	patchBenchStatus(b, ns, "web", `{"status":{"abort":true}}`)
	var stableAt, degradedAt time.Time
	f.until(b, time.Minute, "100% back on stable and Degraded", func(at time.Time) bool {
		if stableAt.IsZero() && f.route == [2]int32{100, 0} {
			stableAt = at
		}
		if degradedAt.IsZero() && f.rollout.Status.Phase == v1alpha1.RolloutPhaseDegraded {
			degradedAt = at
		}
		return !stableAt.IsZero() && !degradedAt.IsZero()
	})
	return routeTimes{
		available: availableAt.Sub(promoted), route: routeAt.Sub(promoted), verified: verifiedAt.Sub(promoted),
		stable: stableAt.Sub(aborted), degraded: degradedAt.Sub(aborted),
	}
}

// routeTimes are measured from the promote (available, route, verified) or the abort (stable,
// degraded).
type routeTimes struct {
	available, route, verified, stable, degraded time.Duration
}

// pausedAt reports whether ro is paused at step on image's update.
func pausedAt(ro *v1alpha1.Rollout, image string, step int32) bool {
	return ro != nil && ro.Spec.Template.Spec.Containers[0].Image == image && ro.Status.Phase == v1alpha1.RolloutPhasePaused &&
		ptr.Deref(ro.Status.CurrentStepIndex, -1) == step && len(ro.Status.PauseConditions) > 0 &&
		ro.Status.ObservedGeneration == fmt.Sprint(ro.Generation)
}

func patchBenchStatus(b *testing.B, ns, name, patch string) {
	b.Helper()
	ro := &v1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.client.Status().Patch(context.Background(), ro, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		b.Fatalf("patch status of %s with %s: %v", name, patch, err)
	}
}

// routeCase is one traffic router: the routing object "web" it creates (with stable "web-stable"
// and canary "web-canary" at 100/0) and the Rollout's trafficRouting block.
type routeCase struct {
	name    string
	list    client.ObjectList
	routing *v1alpha1.RolloutTrafficRouting
	setup   func(b *testing.B, ns string)
}

func httpRouteCase() routeCase {
	return routeCase{
		name: "HTTPRoute",
		list: &gatewayv1.HTTPRouteList{},
		routing: &v1alpha1.RolloutTrafficRouting{Plugins: map[string]apiextensionsv1.JSON{
			v1alpha1.GatewayAPIPluginName: {Raw: []byte(`{"httpRoute":"web"}`)},
		}},
		setup: func(b *testing.B, ns string) {
			createServices(b, ns)
			createHTTPRoute(b, ns)
			startFakeGateway(b, ns, "web")
		},
	}
}

func virtualServiceCase() routeCase {
	return routeCase{
		name: "Istio VS",
		list: &istionetworkingv1.VirtualServiceList{},
		routing: &v1alpha1.RolloutTrafficRouting{
			Istio: &v1alpha1.IstioTrafficRouting{VirtualService: &v1alpha1.IstioVirtualService{Name: "web", Routes: []string{"primary"}}},
		},
		setup: func(b *testing.B, ns string) {
			createServices(b, ns)
			vs := &istionetworkingv1.VirtualService{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
				Spec: networkingv1.VirtualService{Hosts: []string{"web"}, Http: []*networkingv1.HTTPRoute{{
					Name: "primary",
					Route: []*networkingv1.HTTPRouteDestination{
						{Destination: &networkingv1.Destination{Host: "web-stable"}, Weight: 100},
						{Destination: &networkingv1.Destination{Host: "web-canary"}, Weight: 0},
					},
				}}},
			}
			if err := routeClient(b).Create(context.Background(), vs); err != nil {
				b.Fatalf("create VirtualService: %v", err)
			}
		},
	}
}

// routedRollout is the 5-replica Rollout "web" with stable and canary Services and routing.
func routedRollout(ns string, routing *v1alpha1.RolloutTrafficRouting, steps []v1alpha1.CanaryStep) *v1alpha1.Rollout {
	ro := benchRollout(ns, "web", 5, steps)
	c := ro.Spec.Strategy.Canary
	c.StableService, c.CanaryService, c.TrafficRouting = "web-stable", "web-canary", routing
	return ro
}

func createServices(b *testing.B, ns string) {
	b.Helper()
	for _, name := range []string{"web-stable", "web-canary"} {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		if err := env.client.Create(context.Background(), svc); err != nil {
			b.Fatalf("create Service %s: %v", name, err)
		}
	}
}

func createHTTPRoute(b *testing.B, ns string) {
	b.Helper()
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gateway"}}},
			Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "web-stable", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](100)}},
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "web-canary", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](0)}},
			}}},
		},
	}
	if err := routeClient(b).Create(context.Background(), route); err != nil {
		b.Fatalf("create HTTPRoute: %v", err)
	}
}

// startFakeGateway plays a Gateway API implementation: it follows the HTTPRoute with a watch and
// marks every new generation Accepted at once, as a gateway would.
func startFakeGateway(b *testing.B, ns, name string) {
	c := routeClient(b)
	ctx, cancel := context.WithCancel(context.Background())
	var done sync.WaitGroup
	done.Add(1)
	go func() {
		defer done.Done()
		for ctx.Err() == nil {
			w, err := c.Watch(ctx, &gatewayv1.HTTPRouteList{}, client.InNamespace(ns),
				&client.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name)})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				r, ok := ev.Object.(*gatewayv1.HTTPRoute)
				if !ok {
					continue
				}
				for accept(ctx, c, r) {
					// A conflict: accept the route as it is now.
					r = &gatewayv1.HTTPRoute{}
					if c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, r) != nil {
						break
					}
				}
			}
			w.Stop()
		}
	}()
	b.Cleanup(func() { cancel(); done.Wait() })
}

// accept marks r Accepted at its generation unless it already is; it reports a conflict.
func accept(ctx context.Context, c client.Client, r *gatewayv1.HTTPRoute) (conflict bool) {
	if len(r.Status.Parents) == 1 && r.Status.Parents[0].Conditions[0].ObservedGeneration == r.Generation {
		return false
	}
	r.Status.Parents = []gatewayv1.RouteParentStatus{{
		ParentRef: gatewayv1.ParentReference{Name: "gateway"}, ControllerName: "example.com/bench-gateway",
		Conditions: []metav1.Condition{{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue,
			Reason: "Accepted", ObservedGeneration: r.Generation, LastTransitionTime: metav1.Now()}},
	}}
	return apierrors.IsConflict(c.Status().Update(ctx, r))
}

// routeWeights returns the stable and canary weights of the HTTPRoute's first rule or of the
// VirtualService's "primary" route.
func routeWeights(obj runtime.Object) (w [2]int32, ok bool) {
	byName := map[string]int32{}
	switch r := obj.(type) {
	case *gatewayv1.HTTPRoute:
		if len(r.Spec.Rules) == 0 {
			return w, false
		}
		for _, b := range r.Spec.Rules[0].BackendRefs {
			byName[string(b.Name)] = ptr.Deref(b.Weight, 1)
		}
	case *istionetworkingv1.VirtualService:
		for _, h := range r.Spec.Http {
			if h.Name != "primary" {
				continue
			}
			for _, d := range h.Route {
				byName[d.Destination.Host] = d.Weight
			}
		}
	default:
		return w, false
	}
	return [2]int32{byName["web-stable"], byName["web-canary"]}, true
}

// routeClient is a client whose scheme also knows the Gateway API and Istio kinds.
var routeClient = func() func(b *testing.B) client.WithWatch {
	var once sync.Once
	var c client.WithWatch
	var err error
	return func(b *testing.B) client.WithWatch {
		once.Do(func() {
			scheme := runtime.NewScheme()
			for _, add := range []func(*runtime.Scheme) error{
				clientgoscheme.AddToScheme, v1alpha1.AddToScheme, gatewayv1.Install, istionetworkingv1.AddToScheme,
			} {
				if err = add(scheme); err != nil {
					return
				}
			}
			c, err = client.NewWithWatch(env.cluster.Config, client.Options{Scheme: scheme})
		})
		if err != nil {
			b.Fatalf("routing client: %v", err)
		}
		return c
	}
}()

// stamped is an object a watch delivered and when it arrived.
type stamped struct {
	at  time.Time
	obj runtime.Object
}

// follower merges watches on the Rollout "web", the namespace's AnalysisRuns and ReplicaSets and
// one routing object into one stream, each event stamped on arrival, and keeps the last state of each.
type follower struct {
	events  chan stamped
	cancel  context.CancelFunc
	done    sync.WaitGroup
	rollout *v1alpha1.Rollout
	runs    map[string]*v1alpha1.AnalysisRun
	sets    map[string]*appsv1.ReplicaSet // by pod-template hash
	route   [2]int32                      // stable, canary
	last    time.Time                     // arrival of the last event applied
}

// followObjects starts following the Rollout, AnalysisRuns, ReplicaSets and the routing object
// routeName of kind routeList in ns.
func followObjects(b *testing.B, ns string, routeList client.ObjectList, routeName string) *follower {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{events: make(chan stamped, 1024), cancel: cancel, runs: map[string]*v1alpha1.AnalysisRun{},
		sets: map[string]*appsv1.ReplicaSet{}}
	byName := func(name string) client.ListOption {
		return &client.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name)}
	}
	f.watch(ctx, b, &v1alpha1.RolloutList{}, client.InNamespace(ns), byName("web"))
	f.watch(ctx, b, &v1alpha1.AnalysisRunList{}, client.InNamespace(ns))
	f.watch(ctx, b, &appsv1.ReplicaSetList{}, client.InNamespace(ns))
	f.watch(ctx, b, routeList, client.InNamespace(ns), byName(routeName))
	return f
}

// watch starts one watch and forwards its objects, watching again should the server end it (a
// new watch begins with the current state, so nothing is missed).
func (f *follower) watch(ctx context.Context, b *testing.B, list client.ObjectList, opts ...client.ListOption) {
	b.Helper()
	c := routeClient(b)
	w, err := c.Watch(ctx, list, opts...)
	if err != nil {
		b.Fatalf("watch %T: %v", list, err)
	}
	f.done.Add(1)
	go func() {
		defer f.done.Done()
		for {
			for ev := range w.ResultChan() {
				at := time.Now()
				select {
				case f.events <- stamped{at, ev.Object}:
				case <-ctx.Done():
				}
			}
			w.Stop()
			if ctx.Err() != nil {
				return
			}
			if w, err = c.Watch(ctx, list, opts...); err != nil {
				return
			}
		}
	}()
}

func (f *follower) stop() {
	f.cancel()
	f.done.Wait()
}

// until applies events until cond, called with the arrival of the event that made the state, holds;
// it may hold already.
func (f *follower) until(b *testing.B, timeout time.Duration, what string, cond func(at time.Time) bool) {
	b.Helper()
	if f.rollout != nil && cond(f.last) {
		return
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev := <-f.events:
			f.last = ev.at
			switch o := ev.obj.(type) {
			case *v1alpha1.Rollout:
				f.rollout = o
			case *v1alpha1.AnalysisRun:
				f.runs[o.Name] = o
			case *appsv1.ReplicaSet:
				f.sets[o.Labels[v1alpha1.PodTemplateHashLabelKey]] = o
			default:
				if w, ok := routeWeights(o); ok {
					f.route = w
				}
			}
			if f.rollout != nil && cond(f.last) {
				return
			}
		case <-timer.C:
			b.Fatalf("timed out after %s waiting for %s (route %v, rollout %s)", timeout, what, f.route, f.describe())
		}
	}
}

func (f *follower) describe() string {
	ro := f.rollout
	if ro == nil {
		return "not seen"
	}
	return fmt.Sprintf("image %s phase %s step %d pauses %d abort %v observed %s/%d message %q", ro.Spec.Template.Spec.Containers[0].Image,
		ro.Status.Phase, ptr.Deref(ro.Status.CurrentStepIndex, -1), len(ro.Status.PauseConditions), ro.Status.Abort,
		ro.Status.ObservedGeneration, ro.Generation, ro.Status.Message)
}
