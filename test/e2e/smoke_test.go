package e2e

import (
	"context"
	"testing"
	"time"

	networkingv1 "istio.io/api/networking/v1"
	istionetworkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
			// kwok nodes are the only nodes; tolerate their taint should they carry one.
			Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}},
		},
	}
}

func TestSmokeDeploymentBecomesAvailable(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	labels := map[string]string{"app": "smoke"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smoke"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels),
		},
	}
	if err := env.client.Create(ctx, dep); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	eventually(t, 60*time.Second, "deployment with 3 available replicas", func() (bool, error) {
		got := &appsv1.Deployment{}
		if err := env.client.Get(ctx, client.ObjectKeyFromObject(dep), got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
				return got.Status.AvailableReplicas == 3, nil
			}
		}
		return false, nil
	})
	pods := &corev1.PodList{}
	if err := env.client.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		t.Fatalf("list pods: %v", err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
			running++
		}
	}
	if running != 3 {
		t.Fatalf("want 3 running, scheduled pods, got %d of %d", running, len(pods.Items))
	}
}

func TestSmokeJobCompletes(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	tmpl := podTemplate(map[string]string{"app": "smoke-job"})
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smoke"},
		Spec:       batchv1.JobSpec{Template: tmpl, BackoffLimit: ptr.To[int32](0)},
	}
	if err := env.client.Create(ctx, job); err != nil {
		t.Fatalf("create job: %v", err)
	}
	eventually(t, 60*time.Second, "job to complete", func() (bool, error) {
		got := &batchv1.Job{}
		if err := env.client.Get(ctx, client.ObjectKeyFromObject(job), got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return got.Status.Succeeded == 1, nil
			}
		}
		return false, nil
	})
}

func TestSmokeHTTPRouteRoundTrip(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smoke"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gw"}}},
			Rules: []gatewayv1.HTTPRouteRule{{
				BackendRefs: []gatewayv1.HTTPBackendRef{
					{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "stable", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](100)}},
					{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "canary", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](0)}},
				},
			}},
		},
	}
	if err := env.client.Create(ctx, route); err != nil {
		t.Fatalf("create HTTPRoute: %v", err)
	}
	got := &gatewayv1.HTTPRoute{}
	if err := env.client.Get(ctx, client.ObjectKeyFromObject(route), got); err != nil {
		t.Fatalf("get HTTPRoute: %v", err)
	}
	refs := got.Spec.Rules[0].BackendRefs
	if len(refs) != 2 || refs[0].Name != "stable" || *refs[0].Weight != 100 || refs[1].Name != "canary" || *refs[1].Weight != 0 {
		t.Fatalf("HTTPRoute backends not read back as written: %+v", refs)
	}
}

func TestSmokeVirtualServiceRoundTrip(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	vs := &istionetworkingv1.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "smoke"},
		Spec: networkingv1.VirtualService{
			Hosts: []string{"smoke"},
			Http: []*networkingv1.HTTPRoute{{
				Name: "primary",
				Route: []*networkingv1.HTTPRouteDestination{
					{Destination: &networkingv1.Destination{Host: "stable"}, Weight: 100},
					{Destination: &networkingv1.Destination{Host: "canary"}, Weight: 0},
				},
			}},
		},
	}
	if err := env.client.Create(ctx, vs); err != nil {
		t.Fatalf("create VirtualService: %v", err)
	}
	got := &istionetworkingv1.VirtualService{}
	if err := env.client.Get(ctx, client.ObjectKeyFromObject(vs), got); err != nil {
		t.Fatalf("get VirtualService: %v", err)
	}
	if len(got.Spec.Http) != 1 || got.Spec.Http[0].Name != "primary" || len(got.Spec.Http[0].Route) != 2 ||
		got.Spec.Http[0].Route[0].Destination.Host != "stable" || got.Spec.Http[0].Route[0].Weight != 100 {
		t.Fatalf("VirtualService not read back as written: %v", got.Spec.Http)
	}
}
