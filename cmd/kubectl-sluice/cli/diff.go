package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	rov1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/render"
	"github.com/sluice-dev/sluice/sync/apply"
	"github.com/sluice-dev/sluice/sync/inventory"
	gitrender "github.com/sluice-dev/sluice/sync/render"
	"github.com/sluice-dev/sluice/sync/source"
)

// hpasGVR is the resource of the HorizontalPodAutoscalers whose replicas a diff leaves alone.
var hpasGVR = schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}

func newDiffCommand(o *Options) *cobra.Command {
	diff := &cobra.Command{Use: "diff", Short: "Show what applying Git would change in the cluster"}
	var local string
	cmd := &cobra.Command{
		Use:     "sync GITSYNC",
		Aliases: []string{"gitsync", "gs"},
		Short:   "Show, per object, what syncing the GitSync would change, as a unified diff (exit 1 when anything differs)",
		Long: "diff sync fetches the GitSync's source (its repoURL at targetRevision, with the credentials of its secretRef),\n" +
			"renders its path as the controller does and prints, per object, a unified diff of the live object (---) against\n" +
			"Git (+++) on the fields Git sets, leaving out the fields other controllers own: the controller's own comparison.\n" +
			"--local DIR renders the GitSync's path inside DIR instead (a checkout under review) and compares with what a\n" +
			"server-side dry run of the apply would store, changing nothing.\n" +
			"Exit 0 when nothing differs, 1 when something does, 2 on an error (as kubectl diff).",
		Example: "  kubectl sluice diff sync app\n  kubectl sluice diff sync app --local ./config",
		Args:    exactArgs("GITSYNC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := o.diffSync(cmd.Context(), args[0], local)
			if err != nil {
				return &ExitError{Code: 2, Message: err.Error()}
			}
			if n > 0 {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&local, "local", "", "Render this local directory (the repository root) instead of fetching the GitSync's source")
	diff.AddCommand(cmd)
	return diff
}

// diffSync prints the diff of every object that would change and returns how many do.
func (o *Options) diffSync(ctx context.Context, name, local string) (int, error) {
	c, err := o.getClients()
	if err != nil {
		return 0, err
	}
	gs, err := c.getGitSync(ctx, name)
	if err != nil {
		return 0, err
	}
	ap := &apply.Applier{Client: c.dyn, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.kube.Discovery()))}
	root := local
	if root == "" {
		dir, cleanup, err := o.fetchSource(ctx, c, gs)
		if err != nil {
			return 0, err
		}
		defer cleanup()
		root = dir
	}
	objs, err := gitrender.Render(ctx, root, gitrender.Options{Path: gs.Spec.Source.Path, Type: gs.Spec.Render.Type, Recurse: gs.Spec.GetRecurse()})
	if err != nil {
		return 0, fmt.Errorf("render %s: %w", orDot(gs.Spec.Source.Path), err)
	}
	owner := types.NamespacedName{Namespace: gs.Namespace, Name: gs.Name}
	dest := gs.Spec.Destination.Namespace
	if dest == "" {
		dest = gs.Namespace
	}
	if err := apply.Prepare(objs, apply.PrepareOptions{Owner: owner, DefaultNamespace: dest, Scope: ap.Scope}); err != nil {
		return 0, err
	}
	plan, err := apply.NewPlan(objs)
	if err != nil {
		return 0, err
	}
	desired := make([]*unstructured.Unstructured, 0, len(plan.Objects))
	live := map[inventory.ID]*unstructured.Unstructured{}
	for _, t := range plan.Objects {
		l, err := ap.Get(ctx, t.Obj.GroupVersionKind(), t.ID.Namespace, t.ID.Name)
		if err != nil {
			return 0, err
		}
		if l != nil {
			live[t.ID] = l
		}
		want := t.Obj
		if local != "" {
			if want, err = dryRun(ctx, c, ap, t.Obj); err != nil {
				return 0, err
			}
		}
		desired = append(desired, want)
	}
	cmp := &apply.Comparer{
		Others: apply.NewOthers(c.rolloutsFor(ctx, objs), c.hpasFor(ctx, objs)),
		Ignore: gs.Spec.IgnoreDifferences, RespectIgnore: gs.Spec.HasSyncOption("RespectIgnoreDifferences"),
	}
	diffs, err := cmp.Diffs(live, desired)
	if err != nil {
		return 0, err
	}
	for _, d := range diffs {
		if err := render.Diff(o.IOStreams.Out, d.Diff, o.style()); err != nil {
			return 0, err
		}
	}
	stale, err := c.leftGit(ctx, ap, gs, plan)
	if err != nil {
		return 0, err
	}
	for _, s := range stale {
		if err := render.Diff(o.IOStreams.Out, s, o.style()); err != nil {
			return 0, err
		}
	}
	return len(diffs) + len(stale), nil
}

// fetchSource fetches the GitSync's source into a temporary cache with the credentials of its
// secretRef, and returns the checkout's directory and what removes it.
func (o *Options) fetchSource(ctx context.Context, c *clients, gs *sluicev1alpha1.GitSync) (string, func(), error) {
	creds, err := c.credentials(ctx, gs)
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", "kubectl-sluice-diff-")
	if err != nil {
		return "", nil, fmt.Errorf("make a directory for the checkout: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	f := &source.Fetcher{CacheDir: tmp}
	co, err := f.Fetch(ctx, source.Request{
		Key: gs.Namespace + "/" + gs.Name, RepoURL: gs.Spec.Source.RepoURL, Revision: gs.Spec.Source.TargetRevision, Credentials: creds,
	})
	if err != nil {
		cleanup()
		return "", nil, err
	}
	fmt.Fprintf(o.IOStreams.ErrOut, "# %s at %s: %s\n", gs.Spec.Source.RepoURL, shortCommit(co.Commit), co.Message)
	return co.Dir, cleanup, nil
}

// credentials reads the Git credentials of the GitSync's secretRef (the keys the controller reads).
func (c *clients) credentials(ctx context.Context, gs *sluicev1alpha1.GitSync) (*source.Credentials, error) {
	ref := gs.Spec.Source.SecretRef
	if ref == nil || ref.Name == "" {
		return nil, nil
	}
	sec, err := c.kube.CoreV1().Secrets(gs.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the credentials Secret %s/%s of gitsync %s does not exist", gs.Namespace, ref.Name, gs.Name)
		}
		return nil, c.explain(ctx, err, "get", corev1.SchemeGroupVersion.WithResource("secrets"), "")
	}
	return &source.Credentials{
		Username: string(sec.Data["username"]), Password: string(sec.Data["password"]), BearerToken: string(sec.Data["bearerToken"]),
		SSHPrivateKey: sec.Data["sshPrivateKey"], KnownHosts: sec.Data["knownHosts"],
	}, nil
}

// dryRun applies obj with DryRun=All as the sync's field manager and returns, of what the API
// server would store, the fields obj sets: Git's object as the server reads it (defaults filled
// in where Git set a field, values in their stored form). Nothing is changed. A kind the cluster
// does not know yet (a CRD in the same render) is compared as it is.
func dryRun(ctx context.Context, c *clients, ap *apply.Applier, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gvk := obj.GroupVersionKind()
	m, err := ap.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		return obj, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find the resource of %s: %w", gvk, err)
	}
	res := c.dyn.Resource(m.Resource)
	var stored *unstructured.Unstructured
	opts := metav1.ApplyOptions{FieldManager: apply.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		stored, err = res.Namespace(obj.GetNamespace()).Apply(ctx, obj.GetName(), obj, opts)
	} else {
		stored, err = res.Apply(ctx, obj.GetName(), obj, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("dry-run apply %s: %w", apply.Describe(inventory.Of(obj)), err)
	}
	return &unstructured.Unstructured{Object: restrict(obj.Object, stored.Object).(map[string]any)}, nil
}

// restrict returns the value of stored at the fields want sets: maps key by key, lists item by
// item when both have as many items (else stored's list whole), other values as stored has them.
func restrict(want, stored any) any {
	switch w := want.(type) {
	case map[string]any:
		s, ok := stored.(map[string]any)
		if !ok {
			return want
		}
		out := make(map[string]any, len(w))
		for k, v := range w {
			if sv, ok := s[k]; ok {
				out[k] = restrict(v, sv)
			} else {
				out[k] = v
			}
		}
		return out
	case []any:
		s, ok := stored.([]any)
		if !ok {
			return want
		}
		if len(s) != len(w) {
			return runtime.DeepCopyJSONValue(s)
		}
		out := make([]any, len(w))
		for i := range w {
			out[i] = restrict(w[i], s[i])
		}
		return out
	}
	if stored == nil {
		return want
	}
	return runtime.DeepCopyJSONValue(stored)
}

// leftGit describes the objects of the GitSync's inventory that are no longer in Git and still
// carry its ownership labels: a sync prunes them (with automated.prune) or keeps them OutOfSync.
func (c *clients) leftGit(ctx context.Context, ap *apply.Applier, gs *sluicev1alpha1.GitSync, plan apply.Plan) ([]string, error) {
	old, err := inventory.FromStatus(gs.Status.Inventory)
	if err != nil {
		return nil, fmt.Errorf("read the inventory of gitsync %s: %w", gs.Name, err)
	}
	inGit := make([]inventory.Entry, 0, len(plan.Objects))
	for _, t := range plan.Objects {
		inGit = append(inGit, inventory.Entry{ID: t.ID, Version: t.Obj.GroupVersionKind().Version})
	}
	what := "left Git: kept, and OutOfSync (automated.prune is off)"
	if auto := gs.Spec.Automated(); auto != nil && auto.Prune {
		what = "left Git: a sync deletes it (automated.prune)"
	}
	var out []string
	for _, e := range inventory.Diff(old, inventory.Union(nil, inGit)) {
		l, err := ap.Get(ctx, e.GroupVersionKind(), e.ID.Namespace, e.ID.Name)
		if err != nil {
			return nil, err
		}
		if l == nil || l.GetLabels()[sluicev1alpha1.LabelGitSyncName] != gs.Name || l.GetLabels()[sluicev1alpha1.LabelGitSyncNamespace] != gs.Namespace {
			continue
		}
		note := what
		if apply.ObjectOption(l, "Prune", "false") {
			note = "left Git: kept (Prune=false)"
		}
		name := apply.Describe(e.ID)
		out = append(out, fmt.Sprintf("--- live/%s\n+++ /dev/null\n# %s\n", name, note))
	}
	return out, nil
}

// rolloutsFor lists the Rollouts whose fields a diff leaves alone: every namespace's (a Rollout may
// name a route elsewhere) and the ones in the render. A user who may not list them gets the ones
// of the render only.
func (c *clients) rolloutsFor(ctx context.Context, objs []*unstructured.Unstructured) []*rov1.Rollout {
	var out []*rov1.Rollout
	add := func(u *unstructured.Unstructured) {
		ro := &rov1.Rollout{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ro); err == nil {
			out = append(out, ro)
		}
	}
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() == rov1.GroupVersion.WithKind(rov1.RolloutKind).GroupKind() {
			add(o)
		}
	}
	if list, err := c.dyn.Resource(rolloutsGVR).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range list.Items {
			add(&list.Items[i])
		}
	}
	return out
}

// hpasFor lists the HorizontalPodAutoscalers of the render's namespaces and the render's own.
func (c *clients) hpasFor(ctx context.Context, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	namespaces := map[string]bool{}
	for _, o := range objs {
		if o.GetNamespace() != "" {
			namespaces[o.GetNamespace()] = true
		}
		if o.GroupVersionKind().GroupKind() == hpasGVR.GroupVersion().WithKind("HorizontalPodAutoscaler").GroupKind() {
			out = append(out, o)
		}
	}
	for ns := range namespaces {
		list, err := c.dyn.Resource(hpasGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
	}
	return out
}

func orDot(p string) string {
	if strings.Trim(p, "/.") == "" {
		return "the repository root"
	}
	return p
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}
