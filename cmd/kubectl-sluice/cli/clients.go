package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/actions"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/render"
)

var (
	rolloutsGVR     = v1alpha1.GroupVersion.WithResource("rollouts")
	analysisRunsGVR = v1alpha1.GroupVersion.WithResource("analysisruns")
)

// clients reach the cluster of the kubeconfig flags.
type clients struct {
	dyn       dynamic.Interface
	kube      kubernetes.Interface
	namespace string
	server    string
}

// clients builds the clients once, from --kubeconfig, --context, -n and the rest.
func (o *Options) getClients() (*clients, error) {
	if o.clients != nil {
		return o.clients, nil
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("read the kubeconfig: %w", err)
	}
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("read the namespace of the current context: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create a client for %s: %w", cfg.Host, err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create a client for %s: %w", cfg.Host, err)
	}
	o.clients = &clients{dyn: dyn, kube: kube, namespace: ns, server: cfg.Host}
	return o.clients, nil
}

func (c *clients) rollouts(ns string) dynamic.ResourceInterface {
	return c.dyn.Resource(rolloutsGVR).Namespace(ns)
}

// getRollout reads a Rollout; a missing one is an error that names the closest existing name.
func (c *clients) getRollout(ctx context.Context, name string) (*v1alpha1.Rollout, error) {
	u, err := c.rollouts(c.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && c.crdInstalled(ctx, rolloutsGVR) {
			return nil, c.notFound(ctx, name)
		}
		return nil, c.explain(ctx, err, "get", rolloutsGVR, "")
	}
	return toRollout(u)
}

func toRollout(u *unstructured.Unstructured) (*v1alpha1.Rollout, error) {
	ro := &v1alpha1.Rollout{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ro); err != nil {
		return nil, fmt.Errorf("read rollout %s: %w", u.GetName(), err)
	}
	return ro, nil
}

// listRollouts lists the Rollouts of the namespace, or of all namespaces when ns is "".
func (c *clients) listRollouts(ctx context.Context, ns string) ([]v1alpha1.Rollout, error) {
	list, err := c.dyn.Resource(rolloutsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, c.explain(ctx, err, "list", rolloutsGVR, "")
	}
	out := make([]v1alpha1.Rollout, 0, len(list.Items))
	for i := range list.Items {
		ro, err := toRollout(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *ro)
	}
	return out, nil
}

// notFound is the error for a missing rollout, with the closest name in the namespace if one
// is near.
func (c *clients) notFound(ctx context.Context, name string) error {
	msg := fmt.Sprintf("rollout %q not found in namespace %q", name, c.namespace)
	list, err := c.listRollouts(ctx, c.namespace)
	if err != nil {
		return errors.New(msg)
	}
	names := make([]string, len(list))
	for i := range list {
		names[i] = list[i].Name
	}
	if best := closest(name, names); best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	} else if len(names) == 0 {
		msg += " (it has no rollouts)"
	}
	return errors.New(msg)
}

// patch sends one patch of an action to the rollout.
func (c *clients) patch(ctx context.Context, name string, p actions.Patch) error {
	var sub []string
	resource := "rollouts"
	if p.Target == actions.Status {
		sub = []string{"status"}
		resource = "rollouts/status"
	}
	_, err := c.rollouts(c.namespace).Patch(ctx, name, types.PatchType(p.Type), p.Body, metav1.PatchOptions{}, sub...)
	if err != nil {
		return c.explain(ctx, err, "patch", rolloutsGVR, resource)
	}
	return nil
}

// owned reads what a rollout owns: its ReplicaSets, their pods and its AnalysisRuns.
func (c *clients) owned(ctx context.Context, ro *v1alpha1.Rollout) (render.Objects, error) {
	objs := render.Objects{Rollout: ro}
	selector := ""
	if ro.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
		if err != nil {
			return objs, fmt.Errorf("read the selector of rollout %s: %w", ro.Name, err)
		}
		selector = s.String()
	}
	rss, err := c.kube.AppsV1().ReplicaSets(ro.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return objs, c.explain(ctx, err, "list", appsv1.SchemeGroupVersion.WithResource("replicasets"), "")
	}
	objs.ReplicaSets = ownedBy(rss.Items, ro.UID)
	pods, err := c.kube.CoreV1().Pods(ro.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return objs, c.explain(ctx, err, "list", corev1.SchemeGroupVersion.WithResource("pods"), "")
	}
	objs.Pods = pods.Items
	runs, err := c.dyn.Resource(analysisRunsGVR).Namespace(ro.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return objs, c.explain(ctx, err, "list", analysisRunsGVR, "")
	}
	for i := range runs.Items {
		if !isOwnedBy(runs.Items[i].GetOwnerReferences(), ro.UID) {
			continue
		}
		var run v1alpha1.AnalysisRun
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(runs.Items[i].Object, &run); err != nil {
			return objs, fmt.Errorf("read analysis run %s: %w", runs.Items[i].GetName(), err)
		}
		objs.AnalysisRuns = append(objs.AnalysisRuns, run)
	}
	return objs, nil
}

func ownedBy(rss []appsv1.ReplicaSet, uid types.UID) []appsv1.ReplicaSet {
	var out []appsv1.ReplicaSet
	for _, rs := range rss {
		if isOwnedBy(rs.OwnerReferences, uid) {
			out = append(out, rs)
		}
	}
	return out
}

func isOwnedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// crdInstalled asks discovery whether the API server serves gvr. On a discovery error it
// answers true, so that the original error is the one reported.
func (c *clients) crdInstalled(ctx context.Context, gvr schema.GroupVersionResource) bool {
	list, err := c.kube.Discovery().ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		return true
	}
	for _, r := range list.APIResources {
		if r.Name == gvr.Resource {
			return true
		}
	}
	return false
}

// explain turns an API error into one line that says what to do: a missing CRD, a missing
// permission (the verb and the resource), unreachable or refusing API servers. resource, if
// set, is the resource with its subresource ("rollouts/status").
func (c *clients) explain(ctx context.Context, err error, verb string, gvr schema.GroupVersionResource, resource string) error {
	if resource == "" {
		resource = gvr.Resource
	}
	if gvr.Group != "" {
		resource = strings.Replace(resource, gvr.Resource, gvr.Resource+"."+gvr.Group, 1)
	}
	where := fmt.Sprintf("in namespace %q", c.namespace)
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("no permission to %s %s %s (forbidden for the user of the current context)", verb, resource, where)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server at %s does not accept the credentials of the current context (Unauthorized)", c.server)
	case apierrors.IsNotFound(err) && !c.crdInstalled(ctx, gvr):
		return fmt.Errorf("the %s CRD is not installed in the cluster at %s: install sluice's CRDs (config/crd) first", gvr.GroupResource(), c.server)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("cannot reach the API server at %s: %v", c.server, uerr.Err)
	}
	return fmt.Errorf("%s %s %s: %w", verb, resource, where, err)
}
