package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/flowsieve/flowsieve/rules/configmap"
)

// fluentdInput lets `rules import-fluentd` take the fluentd-filters
// ConfigMap manifest as `kubectl get cm fluentd-filters -o yaml` prints it:
// it returns the value of key, preceded by blank lines so that the fluentd
// importer's line numbers (and the imported rules' sources) are manifest
// lines. Anything that is not a manifest comes back unchanged.
func fluentdInput(data []byte, key string, stderr io.Writer) ([]byte, error) {
	if !configmap.Looks(data) {
		return data, nil
	}
	cms, err := configmap.Parse(data)
	if err != nil {
		return nil, err
	}
	cm := &cms[0]
	if len(cms) > 1 {
		if cm, err = configmap.Find(cms, "fluentd-filters"); err != nil {
			return nil, err
		}
	}
	if cm.Name == "fluent-bit-filters" {
		return nil, fmt.Errorf("this is the fluent-bit-filters ConfigMap (Fluent Bit filters): use flowsieve rules import-fluent-bit")
	}
	e, ok := cm.Get(key)
	if !ok {
		return nil, fmt.Errorf("ConfigMap %s has no key %q (it has: %s)", cm.Name, key, strings.Join(cm.Keys(), ", "))
	}
	if e.FirstLine == 0 {
		fmt.Fprintf(stderr, "note: key %s of ConfigMap %s is not a block literal (|) in the manifest: line numbers count from the start of its value\n", key, cm.Name)
		return []byte(e.Value), nil
	}
	return []byte(strings.Repeat("\n", e.FirstLine-1) + e.Value), nil
}
