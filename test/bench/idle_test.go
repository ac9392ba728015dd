package bench

import (
	"testing"
	"time"
)

// Targets of bench/idle. They are reported, not enforced: a miss is logged.
const (
	idleWritesTarget = 0
	idleCPUTarget    = 1.0 // CPU-seconds over the idle minute
)

// BenchmarkIdle (bench/idle): the 1,000 objects of bench/sync-size (600 ConfigMaps in wave 0,
// 200 Services in wave 1, 200 Deployments of 1 replica in wave 2) synced by one GitSync
// (automated, prune, selfHeal, interval 1h). Once applied, Healthy and settled (no reconcile for
// 3 s), a minute with no change anywhere: the controller's API requests by verb and resource, its
// writes (0 expected; events and gitsyncs/status counted apart), its CPU seconds, reconciles,
// drift seen, Git requests and info log lines over that minute.
func BenchmarkIdle(b *testing.B) {
	const configMaps, services, deployments = 600, 200, 200
	const idle = time.Minute
	c := gitSyncClient(b)
	ctrl := startGitSyncController(b)
	ns := newBenchNamespace(b)

	srv, rev := syncSizeRepo(b, configMaps, services, deployments)
	start := time.Now()
	gs := createBenchGitSync(b, c, ns, srv.URL("config"), true)
	final, firstSync := waitSyncedHealthy(b, c, ns, gs.Name, rev, start, 5*time.Minute)
	checkSyncSize(b, c, final, ns, rev, configMaps, services, deployments)
	reconciles := gitSyncReconciles(b, ctrl)
	waitReconcilesQuiet(b, reconciles)

	drift := func() float64 { return ctrl.metricSum(b, "sluice_gitsync_drift_total", "") }
	kinds0, cpu0, rec0, drift0, git0, lines0 := ctrl.requestsByKind(b), ctrl.cpuSeconds(b), reconciles(), drift(), srv.Requests(), ctrl.logLines()
	t0 := time.Now()
	time.Sleep(idle)
	kinds1, cpu1, rec1, drift1, git1, lines1 := ctrl.requestsByKind(b), ctrl.cpuSeconds(b), reconciles(), drift(), srv.Requests(), ctrl.logLines()
	took := time.Since(t0)

	writes := countWrites(kinds0, kinds1)
	cpu := cpu1 - cpu0
	extra := map[string]float64{
		"objects":                            configMaps + services + deployments,
		"first sync: created -> Healthy (s)": firstSync.Seconds(),
		"idle: seconds":                      took.Seconds(),
		"idle: writes (not events, status)":  writes,
		"idle: events writes":                countResourceWrites(kinds0, kinds1, "events"),
		"idle: gitsyncs/status writes":       countStatusWrites(kinds0, kinds1),
		"idle: controller CPU (s)":           cpu,
		"idle: gitsync reconciles":           rec1 - rec0,
		"idle: drift seen (drift_total)":     drift1 - drift0,
		"idle: Git requests":                 float64(git1 - git0),
		"idle: info log lines":               float64(lines1 - lines0),
		"peak RSS (MiB)":                     ctrl.peakRSS(b),
		"target: idle writes":                idleWritesTarget,
		"target: idle CPU (s)":               idleCPUTarget,
	}
	extra["idle: API requests"] = requestTotals("idle: API requests, ", kinds0, kinds1, extra)
	report(b, "bench/idle", map[string]stats{}, extra)
	allWrites := writes + extra["idle: events writes"] + extra["idle: gitsyncs/status writes"]
	if allWrites > idleWritesTarget || cpu >= idleCPUTarget {
		b.Logf("target missed: %.0f writes, events and status included (target %d), and %.2f CPU-seconds (target < %.0f) in an idle minute",
			allWrites, idleWritesTarget, cpu, idleCPUTarget)
	}
}
