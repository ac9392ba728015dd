// Package bench holds the benchmarks that run against the local control plane (make bench). They
// are not timed tests: each prints a table of median, min and max over its repeats and writes a
// JSON file to test/bench/results, so that a change can be compared with the last run on the same
// machine.
package bench

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	"github.com/sluice-dev/sluice/test/cluster"
)

var env struct {
	cluster *cluster.Cluster
	client  client.WithWatch
	bin     string
	root    string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := cluster.Start(context.Background(), cluster.Options{Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: start local cluster:", err)
		return 1
	}
	defer c.Stop()
	env.cluster = c
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	if env.client, err = client.NewWithWatch(c.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "bench: client:", err)
		return 1
	}
	if env.root, err = cluster.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.bin = filepath.Join(dir, "sluice-controller")
	build := exec.Command("go", "build", "-o", env.bin, "./cmd/sluice-controller")
	build.Dir = env.root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: build controller: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// controller is the sluice-controller binary running against the bench cluster.
type controller struct {
	cmd     *exec.Cmd
	metrics string
	mu      sync.Mutex
	lines   int // info-level log lines so far
}

func startController(b *testing.B) *controller {
	b.Helper()
	metrics, probes := freeAddr(b), freeAddr(b)
	c := &controller{metrics: metrics}
	c.cmd = exec.Command(env.bin, "--kubeconfig", env.cluster.Kubeconfig, "--metrics-bind-address", metrics,
		"--health-probe-bind-address", probes, "--log-level", cmp.Or(os.Getenv("BENCH_LOG_LEVEL"), "info"))
	// Debugging aid: more controller flags, as in BENCH_CONTROLLER_ARGS="--kube-api-qps 300".
	c.cmd.Args = append(c.cmd.Args, strings.Fields(os.Getenv("BENCH_CONTROLLER_ARGS"))...)
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	c.cmd.Stderr = c.cmd.Stdout
	if err := c.cmd.Start(); err != nil {
		b.Fatalf("start controller: %v", err)
	}
	var out io.Reader = stdout
	if path := os.Getenv("BENCH_CONTROLLER_LOG"); path != "" {
		// Debugging aid: keep the controller's whole log.
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		out = io.TeeReader(stdout, f)
	}
	go c.countLines(out)
	b.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		_ = c.cmd.Wait()
	})
	waitFor(b, 30*time.Second, "controller readiness", func() bool {
		resp, err := http.Get("http://" + probes + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

func (c *controller) countLines(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"level":"info"`) {
			c.mu.Lock()
			c.lines++
			c.mu.Unlock()
		}
	}
}

func (c *controller) logLines() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

// requests returns the number of API requests the controller has sent (client-go's
// rest_client_requests_total on its metrics endpoint).
func (c *controller) requests(b *testing.B) float64 {
	b.Helper()
	resp, err := http.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		b.Fatalf("read controller metrics: %v", err)
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "rest_client_requests_total{") {
			if os.Getenv("BENCH_DEBUG") != "" {
				fmt.Println(line)
			}
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}

// requestsByKind returns the controller's API requests so far by "verb resource" (its
// sluice_api_requests_total metric), the failed ones by HTTP status ("failed with 409"), and
// the total (totalRequests).
func (c *controller) requestsByKind(b *testing.B) map[string]float64 {
	b.Helper()
	resp, err := http.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		b.Fatalf("read controller metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		byKind := strings.HasPrefix(line, "sluice_api_requests_total{")
		byCode := strings.HasPrefix(line, "rest_client_requests_total{")
		if !byKind && !byCode {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(line[strings.IndexByte(line, '{')+1:strings.IndexByte(line, '}')], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case byKind:
			out[labels["verb"]+" "+labels["resource"]] += v
		default:
			out[totalRequests] += v
			if !strings.HasPrefix(labels["code"], "2") {
				// Failed requests (a 409 conflict, say) by HTTP status, to explain extra requests.
				out["failed with "+labels["code"]] += v
			}
		}
	}
	return out
}

// totalRequests is the key of requestsByKind for all requests (client-go's
// rest_client_requests_total), so that a total and its breakdown come from one scrape.
const totalRequests = "total"

// requestRows turns the difference of two requestsByKind readings into report rows, per update,
// and returns the total per update.
func requestRows(before, after map[string]float64, updates float64, into map[string]float64) float64 {
	for k, v := range after {
		if d := v - before[k]; d > 0 && k != totalRequests {
			into["API requests per update, "+k] = d / updates
		}
	}
	return (after[totalRequests] - before[totalRequests]) / updates
}

// cpuSeconds is the controller's user+system CPU time so far.
func (c *controller) cpuSeconds(b *testing.B) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("read controller stat: %v", err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), 41)+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks (USER_HZ 100 on Linux)
}

// peakRSS is the controller's peak resident set size in MiB (VmHWM).
func (c *controller) peakRSS(b *testing.B) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("read controller status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stats are median, min and max of a series.
type stats struct {
	Median, Min, Max float64
	N                int
}

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	return stats{Median: percentile(s, 50), Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// report prints a table and writes results/<name>.json.
func report(b *testing.B, name string, rows map[string]stats, extra map[string]float64) {
	b.Helper()
	var keys []string
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%s\n%-44s %10s %10s %10s %4s\n", name, "figure", "median", "min", "max", "n")
	for _, k := range keys {
		r := rows[k]
		fmt.Fprintf(&sb, "%-44s %10.3f %10.3f %10.3f %4d\n", k, r.Median, r.Min, r.Max, r.N)
	}
	var ekeys []string
	for k := range extra {
		ekeys = append(ekeys, k)
	}
	sort.Strings(ekeys)
	for _, k := range ekeys {
		fmt.Fprintf(&sb, "%-44s %10.3f\n", k, extra[k])
	}
	fmt.Print(sb.String())
	dir := filepath.Join(env.root, "test", "bench", "results")
	_ = os.MkdirAll(dir, 0o755)
	data, _ := json.MarshalIndent(map[string]any{"name": name, "when": time.Now().UTC(), "stats": rows, "figures": extra}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".json"), data, 0o644); err != nil {
		b.Fatalf("write results: %v", err)
	}
}

func sortFloats(xs []float64) { sort.Float64s(xs) }
