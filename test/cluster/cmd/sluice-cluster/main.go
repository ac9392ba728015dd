// Command sluice-cluster starts and stops the local control plane of test/cluster for people:
// `make cluster-up` and `make cluster-down` call it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluice-dev/sluice/test/cluster"
)

func main() {
	dir := flag.String("dir", ".cluster", "directory for the cluster's data, logs and kubeconfig")
	nodes := flag.Int("nodes", 1, "number of kwok nodes")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: sluice-cluster [--dir DIR] up|down|status\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fail(err)
	}
	switch flag.Arg(0) {
	case "up":
		err = up(abs, *nodes)
	case "down":
		err = down(abs)
	case "status":
		err = status(abs)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sluice-cluster:", err)
	os.Exit(1)
}

// running returns the components of a live cluster in dir, or nil.
func running(dir string) ([]cluster.Component, error) {
	comps, err := cluster.Components(dir)
	if err != nil || len(comps) == 0 {
		return nil, err
	}
	for _, c := range comps {
		if !c.Alive() {
			return nil, nil
		}
	}
	return comps, nil
}

func up(dir string, nodes int) error {
	comps, err := running(dir)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if comps != nil {
		fmt.Printf("A local cluster is already running from %s:\n", dir)
		printComponents(comps)
		printUsage(kubeconfig)
		return nil
	}
	// Whatever is left from an earlier cluster (dead processes) is stale: stop it and start clean.
	if _, err := cluster.StopDetached(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove stale cluster dir: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	fmt.Printf("Starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok in %s ...\n", dir)
	c, err := cluster.Start(ctx, cluster.Options{Dir: dir, Detached: true, Nodes: nodes})
	if err != nil {
		return err
	}
	fmt.Printf("Local cluster ready in %.1fs.\n", time.Since(start).Seconds())
	comps, err = cluster.Components(c.Dir)
	if err != nil {
		return err
	}
	printComponents(comps)
	printUsage(c.Kubeconfig)
	return nil
}

func down(dir string) error {
	stopped, err := cluster.StopDetached(dir)
	if err != nil {
		return err
	}
	if len(stopped) == 0 {
		fmt.Printf("No local cluster is running from %s.\n", dir)
		return nil
	}
	fmt.Printf("Stopped %v.\n", stopped)
	return nil
}

func status(dir string) error {
	comps, err := running(dir)
	if err != nil {
		return err
	}
	if comps == nil {
		fmt.Printf("No local cluster is running from %s.\n", dir)
		os.Exit(1)
	}
	printComponents(comps)
	printUsage(filepath.Join(dir, "kubeconfig"))
	return nil
}

func printComponents(comps []cluster.Component) {
	for _, c := range comps {
		fmt.Printf("  %-24s pid %d\n", c.Name, c.PID)
	}
}

func printUsage(kubeconfig string) {
	fmt.Printf(`
Use it with:
  export KUBECONFIG=%s
  kubectl get nodes
  go run ./cmd/sluice-controller --kubeconfig %s
Stop it with: make cluster-down
`, kubeconfig, kubeconfig)
}
