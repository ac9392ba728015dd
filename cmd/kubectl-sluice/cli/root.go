// Package cli is the kubectl-sluice command line: cobra commands over client-go, with the usual
// kubectl flags from cli-runtime. The patches are built by package actions, the text by package
// render and the offline checks by package lint; this package reads and writes the cluster and
// turns API errors into one clear line.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/sluice-dev/sluice/cmd/kubectl-sluice/render"
)

// Options are the settings every command shares.
type Options struct {
	IOStreams   genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	NoColor     bool
	// Now is the clock (ages, restartAt); time.Now unless a test sets it.
	Now func() time.Time
	// Terminal says whether a writer is a terminal; isTerminal unless a test sets it.
	Terminal func(io.Writer) bool

	clients *clients
}

// ExitError ends the command with Code after printing Message (if any) as the error line.
type ExitError struct {
	Code    int
	Message string
}

func (e *ExitError) Error() string { return e.Message }

// Run runs the plugin with args (without the program name) and returns the exit code. It is
// what main calls, and what tests call to drive the plugin against a cluster.
func Run(ctx context.Context, args []string, streams genericiooptions.IOStreams) int {
	return run(ctx, args, NewRootCommand(streams))
}

func run(ctx context.Context, args []string, cmd *cobra.Command) int {
	streams := genericiooptions.IOStreams{Out: cmd.OutOrStdout(), ErrOut: cmd.ErrOrStderr()}
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := 1
	var exit *ExitError
	if errors.As(err, &exit) {
		code = exit.Code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(streams.ErrOut, "error: "+oneLine(msg))
	}
	return code
}

// NewRootCommand builds `kubectl sluice` and its subcommands.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	return newRootCommand(&Options{IOStreams: streams, Now: time.Now, Terminal: isTerminal})
}

func newRootCommand(o *Options) *cobra.Command {
	streams := o.IOStreams
	o.ConfigFlags = genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:           "kubectl-sluice",
		Short:         "Watch and drive sluice rollouts and GitSyncs",
		Long:          "kubectl sluice shows rollouts step by step and sends the user actions (promote, abort, retry, ...) to them; it shows GitSyncs, asks them to sync and diffs Git against the cluster.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl sluice"},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetIn(streams.In)
	o.ConfigFlags.AddFlags(root.PersistentFlags())
	root.PersistentFlags().BoolVar(&o.NoColor, "no-color", false, "Print no colour codes, even on a terminal")
	root.AddCommand(
		newPromoteCommand(o), newAbortCommand(o), newRetryCommand(o), newPauseCommand(o),
		newResumeCommand(o), newRestartCommand(o), newSetCommand(o), newUndoCommand(o),
		newGetCommand(o), newListCommand(o), newStatusCommand(o), newLintCommand(o), newVersionCommand(o),
		newSyncCommand(o), newDiffCommand(o),
	)
	return root
}

// style decides icons and colour: only on a terminal, and colour not with --no-color or NO_COLOR.
func (o *Options) style() render.Style {
	if !o.isTerminal() {
		return render.Style{}
	}
	return render.Style{Icons: true, Color: !o.NoColor && os.Getenv("NO_COLOR") == ""}
}

func (o *Options) isTerminal() bool {
	if o.Terminal == nil {
		return isTerminal(o.IOStreams.Out)
	}
	return o.Terminal(o.IOStreams.Out)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// oneLine keeps an error on one line: the first line, and a note that there was more.
func oneLine(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return strings.TrimSpace(msg[:i]) + " (…)"
	}
	return msg
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("%s takes %s (got %d argument(s)); see --help", cmd.CommandPath(), strings.Join(names, " "), len(args))
		}
		return nil
	}
}
