package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/render"
)

var gitSyncsGVR = sluicev1alpha1.GroupVersion.WithResource("gitsyncs")

func (c *clients) gitSyncs(ns string) dynamic.ResourceInterface {
	return c.dyn.Resource(gitSyncsGVR).Namespace(ns)
}

// getGitSync reads a GitSync; a missing one is an error that names the closest existing name.
func (c *clients) getGitSync(ctx context.Context, name string) (*sluicev1alpha1.GitSync, error) {
	u, err := c.gitSyncs(c.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && c.crdInstalled(ctx, gitSyncsGVR) {
			return nil, c.gitSyncNotFound(ctx, name)
		}
		return nil, c.explain(ctx, err, "get", gitSyncsGVR, "")
	}
	return toGitSync(u)
}

func toGitSync(u *unstructured.Unstructured) (*sluicev1alpha1.GitSync, error) {
	gs := &sluicev1alpha1.GitSync{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, gs); err != nil {
		return nil, fmt.Errorf("read gitsync %s: %w", u.GetName(), err)
	}
	return gs, nil
}

// listGitSyncs lists the GitSyncs of the namespace, or of all namespaces when ns is "", sorted by
// namespace and name.
func (c *clients) listGitSyncs(ctx context.Context, ns string) ([]sluicev1alpha1.GitSync, error) {
	list, err := c.dyn.Resource(gitSyncsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, c.explain(ctx, err, "list", gitSyncsGVR, "")
	}
	out := make([]sluicev1alpha1.GitSync, 0, len(list.Items))
	for i := range list.Items {
		gs, err := toGitSync(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *gs)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (c *clients) gitSyncNotFound(ctx context.Context, name string) error {
	msg := fmt.Sprintf("gitsync %q not found in namespace %q", name, c.namespace)
	list, err := c.listGitSyncs(ctx, c.namespace)
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
		msg += " (it has no GitSyncs)"
	}
	return errors.New(msg)
}

func gitSyncForOutput(gs sluicev1alpha1.GitSync) sluicev1alpha1.GitSync {
	gs.APIVersion, gs.Kind = sluicev1alpha1.GroupVersion.String(), "GitSync"
	gs.ManagedFields = nil
	return gs
}

func newGetSyncCommand(o *Options) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:     "sync GITSYNC",
		Aliases: []string{"syncs", "gitsync", "gitsyncs", "gs"},
		Short:   "Show a GitSync: source, revision, sync and health, the last operation per object, and the history",
		Args:    exactArgs("GITSYNC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c, err := o.getClients()
			if err != nil {
				return err
			}
			gs, err := c.getGitSync(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out.format != "" {
				return writeObject(o.IOStreams.Out, out.format, gitSyncForOutput(*gs))
			}
			render.GitSync(o.IOStreams.Out, gs, o.now(), o.style())
			return nil
		},
	}
	out.add(cmd)
	return cmd
}

func newListSyncsCommand(o *Options) *cobra.Command {
	var out outputFlag
	var all bool
	cmd := &cobra.Command{
		Use:     "syncs",
		Aliases: []string{"sync", "gitsyncs", "gitsync", "gs"},
		Short:   "List the GitSyncs of the namespace (-A: of all namespaces)",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			c, err := o.getClients()
			if err != nil {
				return err
			}
			ns := c.namespace
			if all {
				ns = ""
			}
			items, err := c.listGitSyncs(cmd.Context(), ns)
			if err != nil {
				return err
			}
			if out.format != "" {
				list := sluicev1alpha1.GitSyncList{Items: make([]sluicev1alpha1.GitSync, len(items))}
				for i := range items {
					list.Items[i] = gitSyncForOutput(items[i])
				}
				list.APIVersion, list.Kind = sluicev1alpha1.GroupVersion.String(), "GitSyncList"
				return writeObject(o.IOStreams.Out, out.format, list)
			}
			render.SyncList(o.IOStreams.Out, items, all, o.now(), o.style())
			return nil
		},
	}
	out.add(cmd)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "List the GitSyncs of every namespace")
	return cmd
}
