package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Kustomize fetches remote bases with the git binary and remote files over HTTP, and neither can
// be switched off through krusty's options. So before a build, every kustomization the build
// would read is checked here, and a remote, absolute or out-of-repository reference is refused
// with the file and line that names it. The in-memory copy of the repository is the second
// guard: a local path outside it is simply not there.

var (
	errRemote   = errors.New("remote references are not fetched: sluice renders only what is in the repository")
	errAbsolute = errors.New("absolute paths are not allowed: use a path relative to the kustomization")
	errOutside  = errors.New("the path leads outside the repository")
	errHelm     = errors.New("helm charts are not supported: sluice does not run helm")
)

// Keys of a kustomization, or of a built-in plugin's configuration, whose values name files or
// directories for Kustomize to read.
var (
	listRefKeys = setOf("resources", "bases", "components", "crds", "configurations",
		"generators", "transformers", "validators", "patchesStrategicMerge", "paths", "files", "envs")
	scalarRefKeys = setOf("path", "env")
	nestedRefKeys = setOf("openapi", "patches", "patchesJson6902", "replacements",
		"configMapGenerator", "secretGenerator")
	// followKeys may name a directory holding another kustomization.
	followKeys = setOf("resources", "bases", "components", "generators", "transformers", "validators")
	// configKeys name plugin configurations, which may be inline YAML or files.
	configKeys = setOf("generators", "transformers", "validators")
)

// refScan walks the kustomizations reachable from one directory of the in-memory repository.
type refScan struct {
	mem     filesys.FileSystem
	visited map[string]bool
}

// checkKustomization checks the kustomization in dir and every one it reaches.
func checkKustomization(mem filesys.FileSystem, dir string) error {
	s := &refScan{mem: mem, visited: map[string]bool{}}
	return s.scanDir(dir, true)
}

// scanDir checks the kustomization file of dir. A directory without one is an error only when
// it is the one being rendered; elsewhere Kustomize reports it.
func (s *refScan) scanDir(dir string, required bool) error {
	if s.visited[dir] {
		return nil
	}
	s.visited[dir] = true
	var files []string
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		file := path.Join(dir, name)
		if s.mem.Exists(memPath(file)) && !s.mem.IsDir(memPath(file)) {
			files = append(files, file)
		}
	}
	switch {
	case len(files) == 0 && required:
		return fmt.Errorf("path %q has no kustomization.yaml, kustomization.yml or Kustomization "+
			"(directory symlinks are not followed)", dir)
	case len(files) == 0:
		return nil
	case len(files) > 1:
		return fmt.Errorf("path %q holds more than one kustomization file: %s", dir, strings.Join(files, ", "))
	}
	return s.scanKustomization(dir, files[0])
}

// scanKustomization parses one kustomization file, then checks what it references.
func (s *refScan) scanKustomization(dir, file string) error {
	data, err := s.mem.ReadFile(memPath(file))
	if err != nil {
		return &Error{File: file, Err: fmt.Errorf("read kustomization: %w", err)}
	}
	docs, err := parseDocuments(file, data)
	if err != nil {
		return err
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return &Error{File: file, Err: err}
	}
	if len(docs) == 0 {
		return nil // Kustomize reports the empty kustomization
	}
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 || k.HelmGlobals != nil {
		return &Error{File: file, Err: errHelm}
	}
	return s.scanRefs(dir, file, docs[0])
}

// scanRefs checks the reference keys of one mapping, descending into the keys that hold
// mappings with references of their own (patches, generators, replacements, openapi).
func (s *refScan) scanRefs(dir, file string, node *yaml.Node) error {
	if node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, value := node.Content[i].Value, node.Content[i+1]
		var entries []*yaml.Node
		switch {
		case scalarRefKeys[key]:
			entries = []*yaml.Node{value}
		case listRefKeys[key] && value.Kind == yaml.SequenceNode:
			entries = value.Content
		case nestedRefKeys[key] && value.Kind == yaml.SequenceNode:
			entries = value.Content
		case nestedRefKeys[key]:
			entries = []*yaml.Node{value}
		}
		for _, entry := range entries {
			var err error
			if nestedRefKeys[key] {
				err = s.scanRefs(dir, file, entry)
			} else {
				err = s.checkEntry(dir, file, key, entry)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// checkEntry checks one reference and follows it into another kustomization or a plugin
// configuration file.
func (s *refScan) checkEntry(dir, file, key string, entry *yaml.Node) error {
	if entry.Kind != yaml.ScalarNode {
		return nil // not a reference; Kustomize reports the malformed field
	}
	if inline := inlineDocuments(key, entry); inline != nil {
		if !configKeys[key] {
			return nil // an inline strategic merge patch names no files
		}
		for _, doc := range inline {
			if err := s.scanRefs(dir, file, doc); err != nil {
				return err
			}
		}
		return nil
	}
	ref := entry.Value
	if key == "files" {
		if _, source, ok := strings.Cut(ref, "="); ok {
			ref = source // a generator file source may be key=path
		}
	}
	if err := checkRef(dir, ref); err != nil {
		return &Error{File: file, Line: entry.Line, Err: fmt.Errorf("%s entry %q: %w", key, entry.Value, err)}
	}
	if !followKeys[key] {
		return nil
	}
	target := path.Join(dir, ref)
	if s.mem.IsDir(memPath(target)) {
		return s.scanDir(target, false)
	}
	if configKeys[key] && s.mem.Exists(memPath(target)) {
		return s.scanConfigFile(dir, target)
	}
	return nil
}

// scanConfigFile checks a plugin configuration file. Its references resolve against the
// kustomization that names it, not against the file's own directory.
func (s *refScan) scanConfigFile(dir, file string) error {
	data, err := s.mem.ReadFile(memPath(file))
	if err != nil {
		return &Error{File: file, Err: fmt.Errorf("read plugin configuration: %w", err)}
	}
	docs, err := parseDocuments(file, data)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		if err := s.scanRefs(dir, file, doc); err != nil {
			return err
		}
	}
	return nil
}

// checkRef refuses a reference that Kustomize would fetch from the network or that would lead
// outside the repository.
func checkRef(dir, ref string) error {
	switch {
	case isRemote(ref):
		return errRemote
	case path.IsAbs(ref):
		return errAbsolute
	}
	target := path.Join(dir, ref)
	if target == ".." || strings.HasPrefix(target, "../") {
		return errOutside
	}
	return nil
}

// gitUser matches the user@ that starts an scp-style git URL (git@github.com:org/repo).
var gitUser = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*@`)

// isRemote says whether Kustomize could take ref for a git repository or an HTTP file. It is
// deliberately wider than Kustomize's own parsing: any URL scheme, a go-getter "git::" prefix,
// a user@ prefix and a scheme-less github.com path all count as remote.
func isRemote(ref string) bool {
	lower := strings.ToLower(ref)
	for _, prefix := range []string{"git::", "github.com/", "github.com:"} {
		if strings.HasPrefix(lower, prefix) {
			return true
		}
	}
	if strings.Contains(ref, "://") || gitUser.MatchString(ref) {
		return true
	}
	u, err := url.Parse(ref)
	return err == nil && u.Scheme != ""
}

// inlineDocuments returns the YAML mappings an entry holds inline (a strategic merge patch or a
// plugin configuration written into the kustomization), or nil when the entry is a path. Only
// the keys where Kustomize accepts inline text can hold it.
func inlineDocuments(key string, entry *yaml.Node) []*yaml.Node {
	if !configKeys[key] && key != "patchesStrategicMerge" {
		return nil
	}
	if !strings.ContainsAny(entry.Value, "\n:{") {
		return nil
	}
	docs, err := parseDocuments("", []byte(entry.Value))
	if err != nil || len(docs) == 0 || docs[0].Kind != yaml.MappingNode {
		return nil
	}
	for _, doc := range docs {
		setLine(doc, entry.Line) // errors point at the entry, not into the embedded text
	}
	return docs
}

// setLine gives a node tree one line number.
func setLine(node *yaml.Node, line int) {
	node.Line = line
	for _, child := range node.Content {
		setLine(child, line)
	}
}

// parseDocuments parses the non-empty documents of a YAML file.
func parseDocuments(file string, data []byte) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, yamlError(file, 0, err)
		}
		if content := documentContent(&doc); content != nil {
			docs = append(docs, content)
		}
	}
}

func setOf(keys ...string) map[string]bool {
	set := make(map[string]bool, len(keys))
	for _, key := range keys {
		set[key] = true
	}
	return set
}
