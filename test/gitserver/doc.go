// Package gitserver runs real Git servers on loopback for tests, the demo and benchmarks.
//
// Start serves every bare repository under a directory over HTTP through the real
// `git http-backend` (behind net/http/cgi), optionally behind basic or bearer authentication.
// StartSSH serves the same repositories over SSH with public-key authentication, running the
// real `git upload-pack` for each exec request. NewRepo creates a bare repository plus a private
// work tree and turns file edits into pushed commits with the git CLI, so tests never need
// go-git at the call site.
//
// Every git command runs with GIT_CONFIG_NOSYSTEM=1 and HOME and XDG_CONFIG_HOME pointing at a
// directory of the harness, so the configuration of the machine's user never leaks in.
package gitserver

import (
	"os"
	"os/exec"
	"strings"
)

// gitEnv returns the environment for a git process: the caller's without any GIT_* variables
// (a test run from a git hook would otherwise point every command at the wrong repository),
// with the user's configuration switched off and home set to home.
func gitEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "GIT_"), name == "HOME", name == "XDG_CONFIG_HOME":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"HOME="+home,
		"XDG_CONFIG_HOME="+home,
	)
	return append(env, extra...)
}

// gitExecPath is where git keeps its helper programs (git-http-backend among them).
func gitExecPath() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}
