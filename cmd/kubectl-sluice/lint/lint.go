// Package lint checks Rollout, AnalysisTemplate, ClusterAnalysisTemplate and GitSync manifests
// offline with the controllers' own validation code: the rollout planner's Validate, the
// traffic routers' Validate, the analysis package's metric checks and the GitSync applier's
// ignoreDifferences check. Nothing here restates a rule; it only finds the objects and reports
// what those functions say, one problem per line with the file, the object and the field.
package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
	sluicev1alpha1 "github.com/sluice-dev/sluice/api/sluice/v1alpha1"
)

// Problem is one thing wrong with one object.
type Problem struct {
	File   string
	Line   int    // first line of the object's document
	Object string // "Rollout shop/web"
	Field  string // "spec.strategy.canary.steps[1].setWeight", or "" when the message has no field
	Msg    string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Object == "" {
		return fmt.Sprintf("%s: %s", loc, p.Msg)
	}
	if p.Field == "" {
		return fmt.Sprintf("%s: %s: %s", loc, p.Object, p.Msg)
	}
	return fmt.Sprintf("%s: %s: %s: %s", loc, p.Object, p.Field, p.Msg)
}

// Report is the result of checking some files.
type Report struct {
	Problems []Problem
	Objects  int // objects of the four kinds found
}

// Document is one YAML or JSON document of a file.
type Document struct {
	File string
	Line int
	Data []byte
}

// SplitDocuments cuts a multi-document YAML stream at its "---" lines, keeping each document's
// first line number. A JSON file is one document.
func SplitDocuments(file string, data []byte) []Document {
	if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return []Document{{File: file, Line: 1, Data: data}}
	}
	var docs []Document
	var cur bytes.Buffer
	start := 1
	lines := bytes.SplitAfter(data, []byte("\n"))
	flush := func(next int) {
		if cur.Len() > 0 {
			docs = append(docs, Document{File: file, Line: start, Data: append([]byte(nil), cur.Bytes()...)})
		}
		cur.Reset()
		start = next
	}
	for i, l := range lines {
		trimmed := strings.TrimRight(string(l), " \t\r\n")
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || strings.HasPrefix(trimmed, "---#") {
			flush(i + 2)
			continue
		}
		if t := bytes.TrimSpace(l); cur.Len() == 0 && (len(t) == 0 || t[0] == '#') {
			start = i + 2 // leading blank and comment lines do not start the document
			continue
		}
		cur.Write(l)
	}
	flush(0)
	return docs
}

// Check checks the documents and adds their problems to r. The AnalysisTemplates and
// ClusterAnalysisTemplates among them are the templates the Rollouts among them are checked
// against.
func (r *Report) Check(docs []Document) {
	var objs []object
	templates := newTemplateSet()
	for _, d := range docs {
		o, ok := r.parse(d)
		if !ok {
			continue
		}
		objs = append(objs, o)
		templates.add(o)
	}
	for _, o := range objs {
		r.checkObject(o, templates)
	}
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// object is one document of a kind lint checks.
type object struct {
	doc Document
	tm  typeMeta
	raw []byte // the document as JSON
}

func (o object) is(gv schema.GroupVersion, kinds ...string) bool {
	return o.tm.APIVersion == gv.String() && slices.Contains(kinds, o.tm.Kind)
}

func (o object) name() string {
	if o.tm.Metadata.Namespace != "" {
		return o.tm.Kind + " " + o.tm.Metadata.Namespace + "/" + o.tm.Metadata.Name
	}
	return o.tm.Kind + " " + o.tm.Metadata.Name
}

// parse reads a document; ok is false for kinds lint does not check (a YAML error is reported).
func (r *Report) parse(d Document) (object, bool) {
	raw, err := yaml.YAMLToJSON(d.Data)
	if err != nil {
		r.add(d, "", "", fmt.Sprintf("not valid YAML: %v", err))
		return object{}, false
	}
	o := object{doc: d, raw: raw}
	if err := json.Unmarshal(raw, &o.tm); err != nil {
		return object{}, false // not an object (a list or a scalar): nothing of ours
	}
	rollouts := rolloutsv1alpha1.GroupVersion
	ours := o.is(rollouts, rolloutsv1alpha1.RolloutKind, rolloutsv1alpha1.AnalysisTemplateKind, rolloutsv1alpha1.ClusterAnalysisTemplateKind) ||
		o.is(sluicev1alpha1.GroupVersion, "GitSync")
	return o, ours
}

func (r *Report) checkObject(o object, templates *templateSet) {
	r.Objects++
	var problems []fieldProblem
	rollouts := rolloutsv1alpha1.GroupVersion
	switch {
	case o.is(rollouts, rolloutsv1alpha1.RolloutKind):
		var ro rolloutsv1alpha1.Rollout
		if err := decode(o.raw, &ro); err != nil {
			problems = []fieldProblem{decodeProblem(err)}
		} else {
			problems = append(checkRollout(&ro), templates.checkRollout(&ro)...)
		}
	case o.is(rollouts, rolloutsv1alpha1.AnalysisTemplateKind, rolloutsv1alpha1.ClusterAnalysisTemplateKind):
		var t rolloutsv1alpha1.AnalysisTemplate
		if err := decode(o.raw, &t); err != nil {
			problems = []fieldProblem{decodeProblem(err)}
		} else {
			problems = checkTemplate(t.Spec)
		}
	default:
		var gs sluicev1alpha1.GitSync
		if err := decode(o.raw, &gs); err != nil {
			problems = []fieldProblem{decodeProblem(err)}
		} else {
			problems = checkGitSync(&gs)
		}
	}
	for _, p := range problems {
		r.add(o.doc, o.name(), p.field, p.msg)
	}
}

func (r *Report) add(d Document, object, field, msg string) {
	r.Problems = append(r.Problems, Problem{File: d.File, Line: d.Line, Object: object, Field: field, Msg: msg})
}

// decode reads an object as the API server would hand it to the controller.
func decode(raw []byte, into any) error { return json.Unmarshal(raw, into) }

// decodeProblem reports a value of the wrong type at its field.
func decodeProblem(err error) fieldProblem {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fieldProblem{field: typeErr.Field, msg: fmt.Sprintf("a JSON %s where %s is wanted", typeErr.Value, typeErr.Type)}
	}
	return fieldProblem{msg: "does not decode: " + err.Error()}
}
