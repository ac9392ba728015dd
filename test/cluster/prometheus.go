package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Prometheus is a real Prometheus server (Debian's package) on a loopback port.
type Prometheus struct {
	// URL is the server's base address, http://127.0.0.1:PORT.
	URL string
	// Dir holds its configuration, data and log.
	Dir  string
	proc *process
}

// PrometheusBinary finds the prometheus executable: /usr/bin/prometheus, else $PATH.
func PrometheusBinary() (string, error) {
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus", nil
	}
	path, err := exec.LookPath("prometheus")
	if err != nil {
		return "", errors.New("prometheus not found: run `make tools` (it installs Debian's prometheus package)")
	}
	return path, nil
}

// ScrapeConfig returns a Prometheus configuration that scrapes targets (host:port) as job every
// interval.
func ScrapeConfig(job string, interval time.Duration, targets ...string) string {
	quoted := make([]string, len(targets))
	for i, t := range targets {
		quoted[i] = strconv.Quote(t)
	}
	return fmt.Sprintf(`global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
scrape_configs:
  - job_name: %[2]q
    scrape_interval: %[1]s
    scrape_timeout: %[1]s
    static_configs:
      - targets: [%[3]s]
`, interval, job, strings.Join(quoted, ", "))
}

// StartPrometheus runs Prometheus with config in dir and waits until it reports ready.
func StartPrometheus(ctx context.Context, dir, config string) (*Prometheus, error) {
	bin, err := PrometheusBinary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create prometheus dir: %w", err)
	}
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, fmt.Errorf("write prometheus config: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	p, err := startProcess("prometheus", bin, dir, false,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	if err != nil {
		return nil, err
	}
	prom := &Prometheus{URL: "http://" + addr, Dir: dir, proc: p}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := waitHTTP(ctx, p, prom.URL+"/-/ready", "Ready", nil, nil); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return prom, nil
}

// Stop ends the server and waits for it. Stopping twice is harmless.
func (p *Prometheus) Stop() { p.proc.stop(10 * time.Second) }
