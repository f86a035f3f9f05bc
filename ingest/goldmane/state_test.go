package goldmane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if pos, err := loadState(path); err != nil || pos != 0 {
		t.Fatalf("no file: %d, %v; want 0, nil", pos, err)
	}
	for _, pos := range []int64{1764650000, 1764650015} {
		if err := saveState(path, pos); err != nil {
			t.Fatal(err)
		}
		if got, err := loadState(path); err != nil || got != pos {
			t.Fatalf("loadState = %d, %v; want %d", got, err, pos)
		}
	}
	// Nothing but the file is left in the directory.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the state file only", len(entries))
	}
	if pos, err := loadState(""); pos != 0 || err != nil {
		t.Errorf("no state file configured: %d, %v", pos, err)
	}
	if err := saveState("", 1); err != nil {
		t.Errorf("no state file configured: %v", err)
	}

	for body, want := range map[string]string{
		"{":                      "delete it to start from now",
		`{"resume_from": -15}`:   "negative",
		`{"resume_from": "abc"}`: "cannot unmarshal",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadState(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want %q", body, err, want)
		}
	}
	if err := saveState(filepath.Join(dir, "missing", "state.json"), 1); err == nil {
		t.Error("saving into a missing directory: no error")
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for _, tc := range []struct {
		n        int
		min, max time.Duration
	}{
		{1, 75 * time.Millisecond, 100 * time.Millisecond},
		{2, 150 * time.Millisecond, 200 * time.Millisecond},
		{4, 600 * time.Millisecond, 800 * time.Millisecond},
		{5, 750 * time.Millisecond, time.Second},
		{50, 750 * time.Millisecond, time.Second},
	} {
		for range 20 {
			if d := backoff(tc.n, lo, hi); d < tc.min || d > tc.max {
				t.Errorf("backoff(%d) = %v, want in [%v, %v]", tc.n, d, tc.min, tc.max)
			}
		}
	}
}
