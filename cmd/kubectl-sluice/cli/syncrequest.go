package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// SyncVerdict decides from a GitSync whether `sync --wait` for the request value is done: once
// the controller acted on the request (status.lastSyncRequested is value) and the operation it
// started ended, Succeeded exits 0 and Failed 1. A suspended GitSync ends at once with 1: it does
// not act on requests until it is resumed.
func SyncVerdict(gs *sluicev1alpha1.GitSync, value string) Verdict {
	if gs.Spec.Suspend {
		return Verdict{Line: "Suspended - the request waits until spec.suspend is false", Done: true, Code: 1}
	}
	op := gs.Status.OperationState
	if gs.Status.LastSyncRequested != value || op == nil {
		line := "Waiting - for the controller to start the sync"
		if c := meta.FindStatusCondition(gs.Status.Conditions, sluicev1alpha1.ConditionReady); c != nil &&
			c.Status == metav1.ConditionFalse && c.Reason != sluicev1alpha1.ReasonOutOfSync && c.Message != "" {
			// A fetch or render that fails starts no operation: say why it does not start.
			line += " (Ready False, " + c.Reason + ": " + c.Message + ")"
		}
		return Verdict{Line: line}
	}
	line := op.Phase
	if op.Message != "" {
		line += " - " + op.Message
	}
	switch op.Phase {
	case sluicev1alpha1.OperationSucceeded:
		return Verdict{Line: line, Done: true}
	case sluicev1alpha1.OperationFailed:
		return Verdict{Line: line, Done: true, Code: 1}
	}
	return Verdict{Line: line}
}

func newSyncCommand(o *Options) *cobra.Command {
	var timeout time.Duration
	var follow bool
	cmd := &cobra.Command{
		Use:   "sync GITSYNC",
		Short: "Ask a GitSync to sync now (--wait: follow the sync to its end)",
		Long: "sync sets the annotation " + sluicev1alpha1.AnnotationSyncRequested + " of the GitSync to the current time, which starts a sync\n" +
			"operation (a manual GitSync syncs only so). With --wait it follows the GitSync until the controller\n" +
			"acted on this request and the operation ended: exit 0 when it Succeeded, 1 with its message when it\n" +
			"Failed or at the timeout (--timeout 0: wait for ever).",
		Example: "  kubectl sluice sync app\n  kubectl sluice sync app --wait --timeout 2m",
		Args:    exactArgs("GITSYNC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.requestSync(cmd.Context(), args[0], follow, timeout)
		},
	}
	cmd.Flags().BoolVar(&follow, "wait", false, "Follow the sync until it ends; exit 1 if it failed")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "How long --wait waits (0: no limit)")
	return cmd
}

// requestSync sets the sync-requested annotation to a new value and, with follow, follows the
// GitSync until the operation of that request ended.
func (o *Options) requestSync(ctx context.Context, name string, follow bool, timeout time.Duration) error {
	c, err := o.getClients()
	if err != nil {
		return err
	}
	if _, err := c.getGitSync(ctx, name); err != nil {
		return err
	}
	value := o.now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{sluicev1alpha1.AnnotationSyncRequested: value}}})
	if err != nil {
		return fmt.Errorf("encode the patch: %w", err)
	}
	if _, err := c.gitSyncs(c.namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return c.explain(ctx, err, "patch", gitSyncsGVR, "")
	}
	fmt.Fprintf(o.IOStreams.Out, "gitsync '%s' sync requested (%s=%s)\n", name, sluicev1alpha1.AnnotationSyncRequested, value)
	if !follow {
		return nil
	}
	return o.waitSync(ctx, c, name, value, timeout)
}

// waitSync follows the GitSync with a watch (list, then watch events) until SyncVerdict is done,
// printing each new line.
func (o *Options) waitSync(ctx context.Context, c *clients, name, value string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			lo.FieldSelector = byName
			return c.gitSyncs(c.namespace).List(ctx, lo)
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			lo.FieldSelector = byName
			return c.gitSyncs(c.namespace).Watch(ctx, lo)
		},
	}
	var last Verdict
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("gitsync %q was deleted", name)
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		gs, err := toGitSync(u)
		if err != nil {
			return false, err
		}
		v := SyncVerdict(gs, value)
		if v.Line != last.Line {
			fmt.Fprintln(o.IOStreams.Out, v.Line)
		}
		last = v
		return v.Done, nil
	})
	switch {
	case wait.Interrupted(err) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &ExitError{Code: 1, Message: fmt.Sprintf("gitsync %q: the sync did not end within %s: %s", name, timeout, orUnknown(last.Line))}
	case wait.Interrupted(err):
		return &ExitError{Code: 1, Message: "interrupted"}
	case err != nil:
		return c.explain(ctx, err, "watch", gitSyncsGVR, "")
	case last.Code != 0:
		return &ExitError{Code: last.Code, Message: fmt.Sprintf("gitsync %q: sync %s", name, last.Line)}
	}
	return nil
}
