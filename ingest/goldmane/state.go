package goldmane

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// state is the state file's content.
type state struct {
	// ResumeFrom is the start (Unix seconds) of the oldest interval not
	// known to be fully on Kafka: the next stream's start_time_gte.
	ResumeFrom int64  `json:"resume_from"`
	Updated    string `json:"updated"` // for people reading the file
}

// loadState returns the position in path, 0 when the file does not exist.
func loadState(path string) (int64, error) {
	if path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("state file: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return 0, fmt.Errorf("state file %s: %w (delete it to start from now)", path, err)
	}
	if s.ResumeFrom < 0 {
		return 0, fmt.Errorf("state file %s: resume_from %d is negative", path, s.ResumeFrom)
	}
	return s.ResumeFrom, nil
}

// saveState replaces path with the position: a temporary file in the same
// directory, synced, then renamed over it, so a crash leaves the old
// position or the new one, never a torn file.
func saveState(path string, pos int64) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(state{ResumeFrom: pos, Updated: time.Unix(pos, 0).UTC().Format(time.RFC3339)})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// checkStateDir fails now, rather than at the end of the first interval,
// when the state file's directory cannot take it.
func checkStateDir(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".check*")
	if err != nil {
		return fmt.Errorf("state file %s: its directory is not writable: %w", path, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
