package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/test/cluster"
)

// TestClusterUpTwiceThenDown drives the command behind make cluster-up/cluster-down: a second
// "up" reports the running cluster instead of starting another, and "down" stops every component.
func TestClusterUpTwiceThenDown(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "sluice-cluster")
	build := exec.Command("go", "build", "-o", bin, "./test/cluster/cmd/sluice-cluster")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build sluice-cluster: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	run := func(verb string) string {
		t.Helper()
		cmd := exec.Command(bin, "--dir", dir, verb)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sluice-cluster %s: %v\n%s", verb, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { _, _ = cluster.StopDetached(dir) })

	first := run("up")
	if !strings.Contains(first, "Local cluster ready") {
		t.Fatalf("first up did not start a cluster:\n%s", first)
	}
	if _, err := os.Stat(filepath.Join(dir, "kubeconfig")); err != nil {
		t.Fatalf("no kubeconfig after up: %v", err)
	}
	comps, err := cluster.Components(dir)
	if err != nil || len(comps) != 5 {
		t.Fatalf("want 5 recorded components, got %v (%v)", comps, err)
	}

	second := run("up")
	if !strings.Contains(second, "already running") {
		t.Fatalf("second up did not report the running cluster:\n%s", second)
	}
	again, err := cluster.Components(dir)
	if err != nil || len(again) != 5 || again[0].PID != comps[0].PID {
		t.Fatalf("second up changed the components: before %v, after %v (%v)", comps, again, err)
	}

	down := run("down")
	if !strings.Contains(down, "Stopped") {
		t.Fatalf("down did not stop the cluster:\n%s", down)
	}
	for _, c := range comps {
		if c.Alive() {
			t.Errorf("%s (pid %d) still running after down", c.Name, c.PID)
		}
	}
}
