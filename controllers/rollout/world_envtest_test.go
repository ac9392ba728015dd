package rollout_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// envtest has no kubelet, ReplicaSet controller or gateway: these helpers play their parts, each
// in a goroutine the test stops when it ends.

// testNamespace creates a namespace labelled for the admission policies of one test.
func testNamespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"sluice-test": name}}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// background runs f every 10 ms until the test ends.
func background(t *testing.T, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			f(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// fakeReplicaSets plays the ReplicaSet controller and kubelet of ns: every ReplicaSet's pods are
// there and available as soon as its spec asks for them.
func fakeReplicaSets(t *testing.T, ns string) {
	background(t, func(ctx context.Context) {
		var list appsv1.ReplicaSetList
		if k8s.List(ctx, &list, client.InNamespace(ns)) != nil {
			return
		}
		for i := range list.Items {
			rs := &list.Items[i]
			n := ptr.Deref(rs.Spec.Replicas, 1)
			if rs.Status.Replicas == n && rs.Status.AvailableReplicas == n && rs.Status.ObservedGeneration == rs.Generation {
				continue
			}
			rs.Status = appsv1.ReplicaSetStatus{Replicas: n, FullyLabeledReplicas: n, ReadyReplicas: n, AvailableReplicas: n, ObservedGeneration: rs.Generation}
			_ = k8s.Status().Update(ctx, rs)
		}
	})
}

// fakeGateway plays a Gateway API implementation: it accepts every generation of ns/route.
func fakeGateway(t *testing.T, ns, route string) {
	background(t, func(ctx context.Context) {
		r := &gatewayv1.HTTPRoute{}
		if k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: route}, r) != nil {
			return
		}
		if len(r.Status.Parents) == 1 && r.Status.Parents[0].Conditions[0].ObservedGeneration == r.Generation {
			return
		}
		r.Status.Parents = []gatewayv1.RouteParentStatus{{
			ParentRef: gatewayv1.ParentReference{Name: "gateway"}, ControllerName: "example.com/test-gateway",
			Conditions: []metav1.Condition{{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue,
				Reason: "Accepted", ObservedGeneration: r.Generation, LastTransitionTime: metav1.Now()}},
		}}
		_ = k8s.Status().Update(ctx, r)
	})
}

func createService(t *testing.T, ns, name, app string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if err := k8s.Create(context.Background(), svc); err != nil {
		t.Fatalf("create Service %s: %v", name, err)
	}
}

func createHTTPRoute(t *testing.T, ns, name string) {
	t.Helper()
	backend := func(svc string, w int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(svc), Port: ptr.To[gatewayv1.PortNumber](80)},
			Weight:                 ptr.To(w),
		}}
	}
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gateway"}}},
			Rules:           []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{backend("web-stable", 100), backend("web-canary", 0)}}},
		},
	}
	if err := k8s.Create(context.Background(), route); err != nil {
		t.Fatalf("create HTTPRoute %s: %v", name, err)
	}
}

// routeWeights returns "stable/canary" as the HTTPRoute's first rule holds them.
func routeWeights(t *testing.T, ns, name string) string {
	t.Helper()
	r := &gatewayv1.HTTPRoute{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, r); err != nil {
		t.Fatalf("get HTTPRoute %s: %v", name, err)
	}
	w := map[string]int32{}
	for _, b := range r.Spec.Rules[0].BackendRefs {
		w[string(b.Name)] = ptr.Deref(b.Weight, 1)
	}
	return fmt.Sprintf("%d/%d", w["web-stable"], w["web-canary"])
}

// denyUpdates refuses, in ns only, every UPDATE (patches included) of the resource for which the
// CEL expression is false, with a ValidatingAdmissionPolicy and its binding. It returns once the
// API server enforces it, checked with probe (a dry-run write that the policy must refuse), and
// gives a function that lifts it.
func denyUpdates(t *testing.T, ns, group, resource, expression string, probe func() error) (lift func()) {
	t.Helper()
	ctx := context.Background()
	name := "deny-" + ns + "-" + strings.ReplaceAll(resource, "/", "-")
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource}},
				},
			}}},
			Validations: []admissionv1.Validation{{Expression: expression, Message: "refused by test policy " + name}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources:    &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"sluice-test": ns}}},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	lifted := false
	lift = func() {
		if lifted {
			return
		}
		lifted = true
		_ = k8s.Delete(ctx, binding)
		_ = k8s.Delete(ctx, policy)
	}
	t.Cleanup(lift)
	eventually(t, "policy "+name+" in force", func() bool {
		err := probe()
		return apierrors.IsInvalid(err) || apierrors.IsForbidden(err)
	})
	return lift
}

// warnings returns the Warning events of reason on the Rollout, with how often each occurred.
func warnings(t *testing.T, ns, rollout, reason string) map[string]int32 {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	out := map[string]int32{}
	for _, e := range list.Items {
		if e.Regarding.Name != rollout || e.Reason != reason || e.Type != corev1.EventTypeWarning {
			continue
		}
		n := int32(1)
		if e.Series != nil {
			n = e.Series.Count
		}
		out[e.Note] += n
	}
	return out
}

// notes returns the notes of every event of reason on the Rollout.
func notes(t *testing.T, ns, rollout, reason string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == rollout && e.Reason == reason {
			out = append(out, e.Note)
		}
	}
	return out
}

func getRollout(t *testing.T, ns, name string) *v1alpha1.Rollout {
	t.Helper()
	ro := &v1alpha1.Rollout{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ro); err != nil {
		t.Fatalf("get Rollout %s: %v", name, err)
	}
	return ro
}

func replicaSetByHash(t *testing.T, ns, hash string) *appsv1.ReplicaSet {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{v1alpha1.PodTemplateHashLabelKey: hash}); err != nil || len(list.Items) != 1 {
		t.Fatalf("ReplicaSet of hash %s: %d found, %v", hash, len(list.Items), err)
	}
	return &list.Items[0]
}

func serviceHash(t *testing.T, ns, name string) string {
	t.Helper()
	svc := &corev1.Service{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, svc); err != nil {
		t.Fatalf("get Service %s: %v", name, err)
	}
	return svc.Spec.Selector[v1alpha1.PodTemplateHashLabelKey]
}

func progressing(ro *v1alpha1.Rollout) *v1alpha1.RolloutCondition {
	for i := range ro.Status.Conditions {
		if ro.Status.Conditions[i].Type == v1alpha1.RolloutProgressing {
			return &ro.Status.Conditions[i]
		}
	}
	return &v1alpha1.RolloutCondition{}
}
