package demo

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// RepoName is the config repository's name on the Git server.
const RepoName = "config-repo"

// The placeholders of examples/config-repo that stand for a team's own values.
const (
	sampleRepoURL    = "https://git.example.com/platform/config-repo.git"
	samplePrometheus = "http://prometheus.monitoring.svc:9090"
)

// seed commits examples/config-repo as the first commit, with the Git server's and Prometheus'
// addresses in place of the sample's.
func (d *Demo) seed() error {
	src := filepath.Join(d.opts.RepoRoot, "examples", "config-repo")
	files := map[string]string{}
	err := filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(data), sampleRepoURL, d.RepoURL())
		files[filepath.ToSlash(rel)] = strings.ReplaceAll(text, samplePrometheus, d.prom.URL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the sample repository %s: %w", src, err)
	}
	if err := d.repo.WriteFiles(files); err != nil {
		return fmt.Errorf("write the config repository: %w", err)
	}
	if _, err := d.repo.Commit("payments: staging and prod at 1.0.0"); err != nil {
		return fmt.Errorf("commit the config repository: %w", err)
	}
	return nil
}

// newTag matches an overlay's image tag line.
var newTag = regexp.MustCompile(`(?m)^(\s*newTag:\s*)(\S+)\s*$`)

// overlay is the kustomization of an environment's overlay.
func overlay(env string) string { return "apps/payments/overlays/" + env + "/kustomization.yaml" }

// Tag is the image tag an environment's overlay sets.
func (d *Demo) Tag(env string) (string, error) {
	data, err := os.ReadFile(filepath.Join(d.repo.WorkTree(), overlay(env)))
	if err != nil {
		return "", fmt.Errorf("read the %s overlay: %w", env, err)
	}
	m := newTag.FindStringSubmatch(string(data))
	if m == nil {
		return "", fmt.Errorf("the %s overlay sets no newTag", env)
	}
	return m[2], nil
}

// SetTag commits a new image tag in an environment's overlay and announces the push; it returns
// the commit.
func (d *Demo) SetTag(env, tag, msg string) (string, error) {
	path := filepath.Join(d.repo.WorkTree(), overlay(env))
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the %s overlay: %w", env, err)
	}
	if !newTag.Match(data) {
		return "", fmt.Errorf("the %s overlay sets no newTag", env)
	}
	changed := newTag.ReplaceAllString(string(data), "${1}"+tag)
	if err := d.repo.WriteFiles(map[string]string{overlay(env): changed}); err != nil {
		return "", err
	}
	sha, err := d.repo.Commit(msg)
	if err != nil {
		return "", err
	}
	return sha, d.announce()
}

// Revert commits the revert of sha and announces the push.
func (d *Demo) Revert(sha string) (string, error) {
	rev, err := d.repo.Revert(sha)
	if err != nil {
		return "", err
	}
	return rev, d.announce()
}
