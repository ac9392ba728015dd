package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/actions"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/render"
)

// Verdict is what `status` makes of one version of a rollout.
type Verdict struct {
	// Line is what to print: the phase and the message.
	Line string
	// Done says whether to stop waiting; Code is then the exit code.
	Done bool
	Code int
}

// StatusVerdict decides from a rollout's status whether `status` is done: Healthy ends with 0,
// Degraded with 1; Paused ends with 0 unless watch (then it waits on); Progressing, a status
// that has not caught up with the spec, or a Paused phase that a promote has just lifted (no
// pause left in the spec and status, or promoteFull set) or a Degraded phase of an abort that a
// retry has just cleared waits.
func StatusVerdict(ro *v1alpha1.Rollout, watch bool) Verdict {
	s := render.Summarize(ro, nil)
	if s.Phase == v1alpha1.RolloutPhasePaused && (ro.Status.PromoteFull || !actions.IsPaused(ro)) {
		// Promoted a moment ago: the controller has not written the new phase yet.
		s.Phase, s.Message = v1alpha1.RolloutPhaseProgressing, "promoted, waiting for the controller to resume"
	}
	if s.Phase == v1alpha1.RolloutPhaseDegraded && !ro.Status.Abort && abortedCondition(ro) {
		// Retried a moment ago: the Degraded phase is the abort's, not yet rewritten.
		s.Phase, s.Message = v1alpha1.RolloutPhaseProgressing, "retried, waiting for the controller to start again"
	}
	line := string(s.Phase)
	if s.Message != "" {
		line += " - " + s.Message
	}
	switch s.Phase {
	case v1alpha1.RolloutPhaseHealthy:
		return Verdict{Line: line, Done: true}
	case v1alpha1.RolloutPhaseDegraded:
		return Verdict{Line: line, Done: true, Code: 1}
	case v1alpha1.RolloutPhasePaused:
		return Verdict{Line: line, Done: !watch}
	}
	return Verdict{Line: line}
}

// abortedCondition says whether the Progressing condition records an abort.
func abortedCondition(ro *v1alpha1.Rollout) bool {
	for _, c := range ro.Status.Conditions {
		if c.Type == v1alpha1.RolloutProgressing {
			return c.Reason == v1alpha1.RolloutAbortedReason
		}
	}
	return false
}

func newStatusCommand(o *Options) *cobra.Command {
	var timeout time.Duration
	var watchPaused bool
	cmd := &cobra.Command{
		Use:   "status ROLLOUT",
		Short: "Wait for a rollout to be Healthy (exit 0) or Degraded (exit 1); Paused exits 0 unless --watch",
		Long: "status prints the rollout's phase and message whenever they change, and waits:\n" +
			"  Healthy   exit 0\n  Degraded  exit 1, with the message\n" +
			"  Paused    exit 0 with the word Paused, so scripts can branch on it; with --watch it waits on\n" +
			"A rollout still Progressing when --timeout passes exits 1 (--timeout 0: wait for ever).",
		Args: exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.status(cmd.Context(), args[0], timeout, watchPaused)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "How long to wait for Healthy or Degraded (0: no limit)")
	cmd.Flags().BoolVarP(&watchPaused, "watch", "w", false, "Wait through pauses too, until Healthy or Degraded")
	return cmd
}

// status follows the rollout with a watch (list, then watch events) until its verdict is done.
func (o *Options) status(ctx context.Context, name string, timeout time.Duration, watchPaused bool) error {
	c, err := o.getClients()
	if err != nil {
		return err
	}
	if _, err := c.getRollout(ctx, name); err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			lo.FieldSelector = byName
			return c.rollouts(c.namespace).List(ctx, lo)
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			lo.FieldSelector = byName
			return c.rollouts(c.namespace).Watch(ctx, lo)
		},
	}
	var last Verdict
	_, err = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("rollout %q was deleted", name)
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		ro, err := toRollout(u)
		if err != nil {
			return false, err
		}
		v := StatusVerdict(ro, watchPaused)
		if v.Line != last.Line {
			fmt.Fprintln(o.IOStreams.Out, v.Line)
		}
		last = v
		return v.Done, nil
	})
	switch {
	case wait.Interrupted(err) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &ExitError{Code: 1, Message: fmt.Sprintf("rollout %q is still %s after %s", name, orUnknown(last.Line), timeout)}
	case wait.Interrupted(err):
		return &ExitError{Code: 1, Message: "interrupted"}
	case err != nil:
		return c.explain(ctx, err, "watch", rolloutsGVR, "")
	case last.Code != 0:
		return &ExitError{Code: last.Code, Message: fmt.Sprintf("rollout %q is %s", name, last.Line)}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
