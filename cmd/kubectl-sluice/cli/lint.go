package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/lint"
)

func newLintCommand(o *Options) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "lint -f FILE|DIR|-",
		Short: "Check Rollout, AnalysisTemplate, ClusterAnalysisTemplate and GitSync manifests offline",
		Long: "lint checks manifests with the controllers' own InvalidSpec checks, without a cluster.\n" +
			"It reads files, directories (every .yaml, .yml and .json under them) and - (stdin, e.g. kustomize build output),\n" +
			"prints one line per problem (file:line: object: field: problem) and exits 1 if there is any.",
		Example: "  kubectl sluice lint -f rollout.yaml\n  kustomize build overlays/prod | kubectl sluice lint -f -",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(files) == 0 {
				return fmt.Errorf("lint needs -f FILE, -f DIR or -f - (stdin)")
			}
			report, err := lint.Paths(files, o.IOStreams.In)
			if err != nil {
				return err
			}
			for _, p := range report.Problems {
				fmt.Fprintln(o.IOStreams.Out, p.String())
			}
			if n := len(report.Problems); n > 0 {
				return &ExitError{Code: 1, Message: fmt.Sprintf("%d problem(s) in %d object(s) checked", n, report.Objects)}
			}
			fmt.Fprintf(o.IOStreams.Out, "%d object(s) checked, no problems\n", report.Objects)
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "File, directory or - for stdin (repeatable)")
	return cmd
}
