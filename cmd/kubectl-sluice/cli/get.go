package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/render"
)

// outputFlag is -o: "" (text), json or yaml.
type outputFlag struct{ format string }

func (f *outputFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.format, "output", "o", "", "Output format: json or yaml (default: text)")
}

func (f *outputFlag) validate() error {
	switch f.format {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("unknown output format %q: use json or yaml", f.format)
}

// writeObject prints obj as JSON or YAML, without managedFields (as kubectl does).
func writeObject(w io.Writer, format string, obj any) error {
	data, err := json.MarshalIndent(obj, "", "    ")
	if err != nil {
		return fmt.Errorf("encode the output: %w", err)
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encode the output: %w", err)
		}
	} else {
		data = append(data, '\n')
	}
	_, err = w.Write(data)
	return err
}

func forOutput(ro v1alpha1.Rollout) v1alpha1.Rollout {
	ro.APIVersion, ro.Kind = v1alpha1.GroupVersion.String(), v1alpha1.RolloutKind
	ro.ManagedFields = nil
	return ro
}

func newGetCommand(o *Options) *cobra.Command {
	get := &cobra.Command{Use: "get", Short: "Show one object in detail"}
	var out outputFlag
	var watch bool
	cmd := &cobra.Command{
		Use:     "rollout ROLLOUT",
		Aliases: []string{"rollouts", "ro"},
		Short:   "Show a rollout: status, step, weights, images, and its revisions, ReplicaSets, pods and AnalysisRuns",
		Args:    exactArgs("ROLLOUT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if watch {
				return o.watchRollout(cmd.Context(), args[0], out.format)
			}
			c, err := o.getClients()
			if err != nil {
				return err
			}
			ro, err := c.getRollout(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out.format != "" {
				return writeObject(o.IOStreams.Out, out.format, forOutput(*ro))
			}
			objs, err := c.owned(cmd.Context(), ro)
			if err != nil {
				return err
			}
			render.Rollout(o.IOStreams.Out, objs, o.now(), o.style())
			return nil
		},
	}
	out.add(cmd)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "Redraw on every change until interrupted")
	get.AddCommand(cmd, newGetSyncCommand(o))
	return get
}

func newListCommand(o *Options) *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "List objects"}
	var out outputFlag
	var all bool
	cmd := &cobra.Command{
		Use:     "rollouts",
		Aliases: []string{"rollout", "ro"},
		Short:   "List the rollouts of the namespace (-A: of all namespaces)",
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
			ros, err := c.listRollouts(cmd.Context(), ns)
			if err != nil {
				return err
			}
			sort.Slice(ros, func(i, j int) bool {
				if ros[i].Namespace != ros[j].Namespace {
					return ros[i].Namespace < ros[j].Namespace
				}
				return ros[i].Name < ros[j].Name
			})
			if out.format != "" {
				items := make([]v1alpha1.Rollout, len(ros))
				for i := range ros {
					items[i] = forOutput(ros[i])
				}
				list := v1alpha1.RolloutList{Items: items}
				list.APIVersion, list.Kind = v1alpha1.GroupVersion.String(), "RolloutList"
				return writeObject(o.IOStreams.Out, out.format, list)
			}
			render.List(o.IOStreams.Out, ros, all, o.style())
			return nil
		},
	}
	out.add(cmd)
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "List the rollouts of every namespace")
	list.AddCommand(cmd, newListSyncsCommand(o))
	return list
}

// draw renders objs as the text or the -o format asks.
func (o *Options) draw(objs render.Objects, format string) ([]byte, error) {
	var buf bytes.Buffer
	if format != "" {
		err := writeObject(&buf, format, forOutput(*objs.Rollout))
		return buf.Bytes(), err
	}
	render.Rollout(&buf, objs, o.now(), o.style())
	return buf.Bytes(), nil
}
