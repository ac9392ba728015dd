package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/render"
)

// clearScreen moves the cursor home and clears the terminal, to redraw in place.
const clearScreen = "\x1b[H\x1b[2J"

// watchRollout draws the rollout, then draws it again on every watch event of the rollout, its
// ReplicaSets, pods and AnalysisRuns that changes the output, until ctx ends. On a terminal it
// redraws in place; otherwise each change is a new block after a blank line.
func (o *Options) watchRollout(ctx context.Context, name, format string) error {
	c, err := o.getClients()
	if err != nil {
		return err
	}
	ro, err := c.getRollout(ctx, name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := startWatch(ctx, c, ro)
	if err != nil {
		return err
	}
	defer w.stop(cancel)
	if !w.synced(ctx) {
		return nil // interrupted before the first list finished
	}
	tty := format == "" && o.isTerminal()
	var last []byte
	for first := true; ; first = false {
		objs, err := w.snapshot(ro.Namespace, name)
		if err != nil {
			return err
		}
		out, err := o.draw(objs, format)
		if err != nil {
			return err
		}
		if !bytes.Equal(out, last) {
			switch {
			case tty:
				fmt.Fprint(o.IOStreams.Out, clearScreen)
			case !first:
				fmt.Fprintln(o.IOStreams.Out)
			}
			if _, err := o.IOStreams.Out.Write(out); err != nil {
				return err
			}
			last = out
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.changed:
		}
	}
}

// rolloutWatch holds the informers of one rollout and what it owns; changed receives a value
// (coalesced) after any of their events.
type rolloutWatch struct {
	kubeInf          informers.SharedInformerFactory
	roInf, runInf    dynamicinformer.DynamicSharedInformerFactory
	ro, rs, pod, run cache.SharedIndexInformer
	changed          chan struct{}
}

// startWatch starts informers for the rollout (by name), the ReplicaSets and pods of its
// selector, and the AnalysisRuns of its namespace.
func startWatch(ctx context.Context, c *clients, ro *v1alpha1.Rollout) (*rolloutWatch, error) {
	selector := ""
	if ro.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(ro.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("read the selector of rollout %s: %w", ro.Name, err)
		}
		selector = s.String()
	}
	ns := ro.Namespace
	w := &rolloutWatch{
		kubeInf: informers.NewSharedInformerFactoryWithOptions(c.kube, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = selector })),
		roInf: dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.dyn, 0, ns, func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", ro.Name).String()
		}),
		runInf:  dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.dyn, 0, ns, nil),
		changed: make(chan struct{}, 1),
	}
	w.ro = w.roInf.ForResource(rolloutsGVR).Informer()
	w.rs = w.kubeInf.Apps().V1().ReplicaSets().Informer()
	w.pod = w.kubeInf.Core().V1().Pods().Informer()
	w.run = w.runInf.ForResource(analysisRunsGVR).Informer()
	notify := func() {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{w.ro, w.rs, w.pod, w.run} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("watch rollout %s: %w", ro.Name, err)
		}
	}
	w.kubeInf.Start(ctx.Done())
	w.roInf.Start(ctx.Done())
	w.runInf.Start(ctx.Done())
	return w, nil
}

func (w *rolloutWatch) synced(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), w.ro.HasSynced, w.rs.HasSynced, w.pod.HasSynced, w.run.HasSynced)
}

// stop ends the informers (cancel ends their context) and waits for them.
func (w *rolloutWatch) stop(cancel context.CancelFunc) {
	cancel()
	w.kubeInf.Shutdown()
	w.roInf.Shutdown()
	w.runInf.Shutdown()
}

// snapshot builds the objects of one drawing from the informers' stores.
func (w *rolloutWatch) snapshot(ns, name string) (render.Objects, error) {
	item, exists, err := w.ro.GetStore().GetByKey(ns + "/" + name)
	if err != nil {
		return render.Objects{}, err
	}
	if !exists {
		return render.Objects{}, errors.New("rollout " + name + " was deleted")
	}
	ro, err := toRollout(item.(*unstructured.Unstructured))
	if err != nil {
		return render.Objects{}, err
	}
	objs := render.Objects{Rollout: ro}
	var rss []appsv1.ReplicaSet
	for _, o := range w.rs.GetStore().List() {
		rss = append(rss, *o.(*appsv1.ReplicaSet))
	}
	objs.ReplicaSets = ownedBy(rss, ro.UID)
	for _, o := range w.pod.GetStore().List() {
		objs.Pods = append(objs.Pods, *o.(*corev1.Pod))
	}
	for _, o := range w.run.GetStore().List() {
		u := o.(*unstructured.Unstructured)
		if !isOwnedBy(u.GetOwnerReferences(), ro.UID) {
			continue
		}
		var run v1alpha1.AnalysisRun
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &run); err != nil {
			return objs, fmt.Errorf("read analysis run %s: %w", u.GetName(), err)
		}
		objs.AnalysisRuns = append(objs.AnalysisRuns, run)
	}
	return objs, nil
}
