// Package demo walks the article's workflow on a running cluster: a config repository served
// from a Git server on loopback, a root GitSync that applies one GitSync per environment, a
// canary per commit with an analysis on a real Prometheus, an automatic abort of a bad version,
// a git revert, and self-heal of a hand edit. `make demo` (cmd/sluice-demo) narrates it;
// test/e2e's seed workflow test runs the same phases and asserts every transition.
//
// The package brings everything around the controller: the Git server and its repository, a
// small exporter of per-version request counters, Prometheus scraping it, and a stand-in for the
// Gateway controller that accepts the HTTPRoutes. The controller itself (the sluice-controller
// binary for the demo, in-process managers for the test) is the caller's.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/test/cluster"
	"github.com/sluice-dev/sluice/test/gitserver"
)

// Options configure a walk-through.
type Options struct {
	// Config and Client reach the cluster as an administrator (the person running the demo). The
	// client's scheme must hold the core, Gateway API, Rollout and GitSync kinds.
	Config *rest.Config
	Client client.Client
	// RepoRoot is the sluice checkout: the sample repository is RepoRoot/examples/config-repo.
	RepoRoot string
	// Dir holds the Git server's repositories and Prometheus' data.
	Dir string
	// WebhookURL is the controller's webhook receiver and WebhookToken its generic bearer token;
	// a commit is announced there at once. Empty: the GitSyncs find commits on their interval.
	WebhookURL, WebhookToken string
	// Out receives the narration, one line per phase; nil discards it.
	Out io.Writer
}

// Demo is a running walk-through.
type Demo struct {
	opts     Options
	out      io.Writer
	git      *gitserver.Server
	repo     *gitserver.Repo
	exporter *Exporter
	prom     *cluster.Prometheus
	gateway  *Gateway
	order    *orderWatch
}

// Start brings up the Git server with the sample repository committed, the exporter, Prometheus
// scraping it and the gateway stand-in.
func Start(ctx context.Context, opts Options) (*Demo, error) {
	d := &Demo{opts: opts, out: opts.Out}
	if d.out == nil {
		d.out = io.Discard
	}
	ok := false
	defer func() {
		if !ok {
			d.Stop()
		}
	}()
	gitDir := filepath.Join(opts.Dir, "git")
	if err := os.MkdirAll(gitDir, 0o755); err != nil {
		return nil, fmt.Errorf("create the Git server's directory: %w", err)
	}
	var err error
	if d.git, err = gitserver.Start(gitDir, gitserver.Options{}); err != nil {
		return nil, fmt.Errorf("start the Git server: %w", err)
	}
	if d.repo, err = gitserver.NewRepo(gitDir, RepoName); err != nil {
		return nil, fmt.Errorf("create the config repository: %w", err)
	}
	if d.exporter, err = StartExporter(ctx, opts.Client); err != nil {
		return nil, err
	}
	config := cluster.ScrapeConfig("payments", time.Second, d.exporter.Addr())
	if d.prom, err = cluster.StartPrometheus(ctx, filepath.Join(opts.Dir, "prometheus"), config); err != nil {
		return nil, fmt.Errorf("start Prometheus: %w", err)
	}
	if d.order, err = watchOrder(ctx, opts.Config); err != nil {
		return nil, err
	}
	if err := d.seed(); err != nil {
		return nil, err
	}
	d.gateway = StartGateway(opts.Client)
	ok = true
	return d, nil
}

// Stop ends what Start began; the cluster and what the GitSyncs applied stay.
func (d *Demo) Stop() {
	if d.order != nil {
		d.order.stop()
	}
	if d.gateway != nil {
		d.gateway.Stop()
	}
	if d.prom != nil {
		d.prom.Stop()
	}
	if d.exporter != nil {
		d.exporter.Stop()
	}
	if d.git != nil {
		d.git.Stop()
	}
}

// RepoURL is the config repository's address on the Git server.
func (d *Demo) RepoURL() string { return d.git.URL(RepoName) }

// RepoPath is the config repository's bare directory (clone it to explore the history).
func (d *Demo) RepoPath() string { return d.repo.Path() }

// PrometheusURL is the Prometheus the analyses query.
func (d *Demo) PrometheusURL() string { return d.prom.URL }

// say writes one line of narration.
func (d *Demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

// phase narrates a phase and its duration.
func (d *Demo) phase(n int, what string, start time.Time) {
	d.say("%d. %s (%.1fs)", n, what, time.Since(start).Seconds())
}
