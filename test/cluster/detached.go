package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Component is one process of a detached cluster, as recorded in its pid file.
type Component struct {
	Name string
	PID  int
}

// Components reads the pid file a detached cluster left in dir. It returns nil when there is none.
func Components(dir string) ([]Component, error) {
	data, err := os.ReadFile(filepath.Join(dir, pidFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pid file: %w", err)
	}
	var comps []Component
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, pidText, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil {
			return nil, fmt.Errorf("read pid file: bad line %q", line)
		}
		comps = append(comps, Component{Name: name, PID: pid})
	}
	return comps, nil
}

// Alive reports whether the recorded process still runs the recorded component.
func (c Component) Alive() bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.PID))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return filepath.Base(argv0) == c.Name
}

// StopDetached ends the components of a detached cluster in dir (make cluster-down), newest
// first, and removes the pid file. It returns the names of the components it stopped.
func StopDetached(dir string) ([]string, error) {
	comps, err := Components(dir)
	if err != nil {
		return nil, err
	}
	var stopped []string
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		if !c.Alive() {
			continue
		}
		_ = syscall.Kill(c.PID, syscall.SIGTERM)
		deadline := time.Now().Add(10 * time.Second)
		for c.Alive() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if c.Alive() {
			_ = syscall.Kill(c.PID, syscall.SIGKILL)
		}
		stopped = append(stopped, c.Name)
	}
	if err := os.Remove(filepath.Join(dir, pidFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return stopped, fmt.Errorf("remove pid file: %w", err)
	}
	return stopped, nil
}
