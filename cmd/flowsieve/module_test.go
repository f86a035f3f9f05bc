package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The product's module requires only what the binary and its tests use:
// the deploy files' checkers (compose-go, k8s.io/api, Prometheus' parser)
// belong to deploy/'s own module, deploy/go.mod.
func TestProductModuleLeavesDeployLibrariesOut(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require"))
		if len(fields) == 0 {
			continue
		}
		mod := fields[0]
		if mod == "github.com/prometheus/prometheus" || strings.HasPrefix(mod, "k8s.io/") ||
			strings.HasPrefix(mod, "github.com/compose-spec/compose-go") {
			t.Errorf("go.mod:%d requires %s, which only deploy/'s tests need: it belongs in deploy/go.mod (go mod tidy in both)", i+1, mod)
		}
	}
}
