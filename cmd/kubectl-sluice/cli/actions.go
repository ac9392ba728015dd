package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/actions"
)

// act reads the rollout, asks build for the patches, sends them and prints the one line. A
// conflict (set image sends the resourceVersion it read) reads the rollout again.
func (o *Options) act(ctx context.Context, name string, build func(*v1alpha1.Rollout) (actions.Result, error)) error {
	c, err := o.getClients()
	if err != nil {
		return err
	}
	var res actions.Result
	err = retry.OnError(retry.DefaultRetry, apierrors.IsConflict, func() error {
		ro, err := c.getRollout(ctx, name)
		if err != nil {
			return err
		}
		if res, err = build(ro); err != nil {
			return err
		}
		for _, p := range res.Patches {
			if err := c.patch(ctx, name, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(o.IOStreams.Out, res.Message)
	return nil
}

func simple(f func(string) actions.Result) func(*v1alpha1.Rollout) (actions.Result, error) {
	return func(ro *v1alpha1.Rollout) (actions.Result, error) { return f(ro.Name), nil }
}

func newPromoteCommand(o *Options) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "promote ROLLOUT",
		Short: "Let a paused rollout go on to its next step (--full: skip all remaining steps)",
		Long: "promote clears spec.paused and the pause conditions of a paused rollout, so that the controller moves past the current step.\n" +
			"A rollout that is not paused is left alone. --full sets status.promoteFull: the update becomes stable at once, skipping the remaining steps, pauses and analyses.",
		Example: "  kubectl sluice promote web\n  kubectl sluice promote web --full",
		Args:    exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			build := func(ro *v1alpha1.Rollout) (actions.Result, error) {
				if full {
					return actions.PromoteFull(ro), nil
				}
				return actions.Promote(ro), nil
			}
			return o.act(cmd.Context(), args[0], build)
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "Skip the remaining steps, pauses and analyses")
	return cmd
}

func newAbortCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "abort ROLLOUT",
		Short: "Abort an update: traffic and pods go back to the stable version",
		Args:  exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.act(cmd.Context(), args[0], simple(actions.Abort))
		},
	}
}

func newRetryCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "retry ROLLOUT",
		Short: "Retry an aborted update from its first step",
		Args:  exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.act(cmd.Context(), args[0], simple(actions.Retry))
		},
	}
}

func newPauseCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "pause ROLLOUT",
		Short: "Pause a rollout (spec.paused) where it is",
		Args:  exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.act(cmd.Context(), args[0], simple(actions.Pause))
		},
	}
}

func newResumeCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "resume ROLLOUT",
		Short: "Undo a pause: clear spec.paused (a pause step still waits for promote)",
		Args:  exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.act(cmd.Context(), args[0], func(ro *v1alpha1.Rollout) (actions.Result, error) { return actions.Resume(ro), nil })
		},
	}
}

func newRestartCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "restart ROLLOUT",
		Short: "Restart the pods of a rollout (spec.restartAt = now)",
		Args:  exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := o.now()
			return o.act(cmd.Context(), args[0], simple(func(name string) actions.Result { return actions.Restart(name, now) }))
		},
	}
}

func newSetCommand(o *Options) *cobra.Command {
	set := &cobra.Command{Use: "set", Short: "Change a rollout's spec"}
	set.AddCommand(&cobra.Command{
		Use:     "image ROLLOUT CONTAINER=IMAGE",
		Short:   "Set the image of a container (*=IMAGE: of every container)",
		Example: "  kubectl sluice set image web app=ghcr.io/acme/web:2.1\n  kubectl sluice set image web '*=ghcr.io/acme/web:2.1'",
		Args:    exactArgs("ROLLOUT", "CONTAINER=IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			container, image, err := actions.ParseImageArg(args[1])
			if err != nil {
				return err
			}
			return o.act(cmd.Context(), args[0], func(ro *v1alpha1.Rollout) (actions.Result, error) {
				return actions.SetImage(ro, container, image)
			})
		},
	})
	return set
}

func newUndoCommand(o *Options) *cobra.Command {
	var toRevision int64
	cmd := &cobra.Command{
		Use:   "undo ROLLOUT",
		Short: "Go back to a previous revision's pod template (default: the one before the newest)",
		Args:  exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.getClients()
			if err != nil {
				return err
			}
			return o.act(cmd.Context(), args[0], func(ro *v1alpha1.Rollout) (actions.Result, error) {
				objs, err := c.owned(cmd.Context(), ro)
				if err != nil {
					return actions.Result{}, err
				}
				rss := make([]*appsv1.ReplicaSet, len(objs.ReplicaSets))
				for i := range objs.ReplicaSets {
					rss[i] = &objs.ReplicaSets[i]
				}
				return actions.Undo(ro, rss, toRevision)
			})
		},
	}
	cmd.Flags().Int64Var(&toRevision, "to-revision", 0, "The revision to go back to (0: the one before the newest)")
	return cmd
}
