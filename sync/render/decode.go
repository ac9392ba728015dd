package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// decodeManifests turns one manifest file into objects: every document of a YAML file, the one
// value of a JSON file.
func decodeManifests(name string, data []byte) ([]*unstructured.Unstructured, error) {
	if strings.EqualFold(path.Ext(name), ".json") {
		return decodeJSON(name, data)
	}
	return decodeYAML(name, data)
}

// decodeYAML reads a stream of YAML documents. The decoder counts lines over the whole stream,
// so both syntax errors and document lines are absolute lines of the file.
func decodeYAML(name string, data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, yamlError(name, 0, err)
		}
		content := documentContent(&doc)
		if content == nil {
			continue // an empty document, or one that is only comments
		}
		if content.Kind != yaml.MappingNode {
			return nil, &Error{File: name, Line: content.Line, Err: errors.New("document is not a YAML mapping (an object)")}
		}
		var fields map[string]interface{}
		if err := content.Decode(&fields); err != nil {
			return nil, yamlError(name, content.Line, err)
		}
		docObjs, err := objectsFrom(fields)
		if err != nil {
			return nil, &Error{File: name, Line: content.Line, Err: err}
		}
		objs = append(objs, docObjs...)
	}
}

// documentContent returns a document's root node, or nil when the document holds nothing.
func documentContent(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) == 0 {
		return nil
	}
	content := doc.Content[0]
	if content.Kind == yaml.ScalarNode && content.Tag == "!!null" {
		return nil
	}
	return content
}

// decodeJSON reads a JSON file holding one object (which may be a List).
func decodeJSON(name string, data []byte) ([]*unstructured.Unstructured, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil
	}
	line := lineAt(data, bytes.Index(data, trimmed[:1]))
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		return nil, jsonError(name, data, err)
	}
	if trimmed[0] != '{' {
		return nil, &Error{File: name, Line: line, Err: errors.New("file does not hold a JSON object")}
	}
	var fields map[string]interface{}
	if err := utiljson.Unmarshal(data, &fields); err != nil {
		return nil, &Error{File: name, Line: line, Err: fmt.Errorf("decode JSON object: %w", err)}
	}
	objs, err := objectsFrom(fields)
	if err != nil {
		return nil, &Error{File: name, Line: line, Err: err}
	}
	return objs, nil
}

// objectsFrom turns one decoded document into objects: the document itself, or the items of a
// v1 List. A List is expanded one level: an item that is a List again is taken as an object.
func objectsFrom(fields map[string]interface{}) ([]*unstructured.Unstructured, error) {
	obj, err := normalize(fields)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	if u.GetKind() != "List" || u.GetAPIVersion() != "v1" {
		if err := validateObject(u); err != nil {
			return nil, err
		}
		return []*unstructured.Unstructured{u}, nil
	}
	items, ok := obj["items"].([]interface{})
	if !ok && obj["items"] != nil {
		return nil, errors.New("list items is not a sequence")
	}
	objs := make([]*unstructured.Unstructured, 0, len(items))
	for i, item := range items {
		itemFields, ok := item.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("list item %d is not an object", i+1)
		}
		itemObj := &unstructured.Unstructured{Object: itemFields}
		if err := validateObject(itemObj); err != nil {
			return nil, fmt.Errorf("list item %d: %w", i+1, err)
		}
		objs = append(objs, itemObj)
	}
	return objs, nil
}

// normalize converts decoded YAML into the JSON types unstructured objects hold (int64, float64,
// string, bool, maps and slices) by a trip through JSON.
func normalize(fields map[string]interface{}) (map[string]interface{}, error) {
	data, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("convert document to JSON: %w", err)
	}
	var obj map[string]interface{}
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("convert document to JSON: %w", err)
	}
	return obj, nil
}

// validateObject checks the fields every object needs to be applied.
func validateObject(u *unstructured.Unstructured) error {
	var missing []string
	if u.GetAPIVersion() == "" {
		missing = append(missing, "apiVersion")
	}
	if u.GetKind() == "" {
		missing = append(missing, "kind")
	}
	if u.GetName() == "" && u.GetGenerateName() == "" {
		missing = append(missing, "metadata.name (or metadata.generateName)")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("object%s is missing %s", describe(u), strings.Join(missing, " and "))
}

// describe names an object as far as it can be named, with a leading space.
func describe(u *unstructured.Unstructured) string {
	var s string
	if kind := u.GetKind(); kind != "" {
		s += " " + kind
	}
	if name := u.GetName(); name != "" {
		s += " " + strconv.Quote(name)
	}
	return s
}

var (
	yamlLinePrefix = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlTypeLine   = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// yamlError turns a YAML decoder error into an *Error with the line the decoder reports, or
// fallback when it reports none.
func yamlError(name string, fallback int, err error) error {
	if m := yamlLinePrefix.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Err: errors.New(m[2])}
	}
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) && len(typeErr.Errors) > 0 {
		if m := yamlTypeLine.FindStringSubmatch(typeErr.Errors[0]); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &Error{File: name, Line: line, Err: errors.New(m[2])}
		}
	}
	return &Error{File: name, Line: fallback, Err: err}
}

// jsonError turns a JSON syntax error into an *Error with the line of the offending byte.
func jsonError(name string, data []byte, err error) error {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return &Error{File: name, Line: lineAt(data, int(syntaxErr.Offset)-1), Err: err}
	}
	return &Error{File: name, Err: err}
}

// lineAt returns the 1-based line of the byte at offset.
func lineAt(data []byte, offset int) int {
	offset = max(0, min(offset, len(data)))
	return 1 + bytes.Count(data[:offset], []byte("\n"))
}
