package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Version is the plugin's version, set at build time with
// -ldflags "-X github.com/sluice-dev/sluice/cmd/kubectl-sluice/cli.Version=v0.3.0"; without it
// the module version or the VCS revision the binary was built from.
var Version = ""

// The controller's Deployment, as config/manager installs it.
const (
	controllerNamespace  = "sluice-system"
	controllerDeployment = "sluice-controller"
)

func pluginVersion() string {
	if Version != "" {
		return Version + " (" + runtime.Version() + ")"
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		v = "devel+" + rev[:min(12, len(rev))]
		if dirty {
			v += "-dirty"
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v + " (" + info.GoVersion + ")"
}

func newVersionCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version and, when the cluster is reachable, the controller's",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(o.IOStreams.Out, "kubectl-sluice: %s\n", pluginVersion())
			fmt.Fprintf(o.IOStreams.Out, "sluice-controller: %s\n", o.controllerVersion(cmd.Context()))
			return nil
		},
	}
}

// controllerVersion is the image of the controller's Deployment, or why it is not known.
func (o *Options) controllerVersion(ctx context.Context) string {
	c, err := o.getClients()
	if err != nil {
		return "unknown (" + oneLine(err.Error()) + ")"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d, err := c.kube.AppsV1().Deployments(controllerNamespace).Get(ctx, controllerDeployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("not found (no Deployment %s/%s in the cluster)", controllerNamespace, controllerDeployment)
	case err != nil:
		gvr := appsv1.SchemeGroupVersion.WithResource("deployments")
		return "unknown (" + oneLine(c.explain(ctx, err, "get", gvr, "").Error()) + ")"
	}
	var images []string
	for _, ctr := range d.Spec.Template.Spec.Containers {
		images = append(images, ctr.Image)
	}
	return strings.Join(images, ", ") + fmt.Sprintf(" (%d/%d ready)", d.Status.ReadyReplicas, d.Status.Replicas)
}
