package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMultiDocumentRuleFile: a rule file of two YAML documents loaded the
// first and ignored the second ("rules check" said SUCCESS). It is now an
// error at the second document's "---" line; empty documents after the
// first (a trailing "---") still load.
func TestMultiDocumentRuleFile(t *testing.T) {
	two := rulesDropDev + "---\nthreats:\n  - {name: t, severity: low, when: {field: proto, equals: tcp}}\n"
	_, err := Load([]byte(two), "rules.yaml")
	if err == nil || !strings.Contains(err.Error(), "rules.yaml:3:1: a second YAML document starts here") {
		t.Fatalf("two documents: %v", err)
	}
	for _, ok := range []string{rulesDropDev + "---\n", "---\n" + rulesDropDev + "...\n", rulesDropDev + "---\n---\n# nothing\n"} {
		if _, err := Load([]byte(ok), "rules.yaml"); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if _, err := Load([]byte(rulesDropDev+"---\n[unclosed\n"), "rules.yaml"); err == nil {
		t.Error("a broken second document loaded")
	}
}

// TestFiltersMappingBlame: "filters: {..}" (a mapping, not a list) was
// blamed on the last threat rule's name.
func TestFiltersMappingBlame(t *testing.T) {
	_, err := Load([]byte("threats:\n  - {name: last-threat, severity: low, when: {field: proto, equals: tcp}}\nfilters: {name: f}\n"), "rules.yaml")
	if err == nil || !strings.Contains(err.Error(), "rules.yaml:3:10: filters must be a list, not a mapping") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), "last-threat") {
		t.Errorf("blamed on the last threat rule: %v", err)
	}
}

// TestSecretFeedNotEchoed: a rule file naming a secret as a feed printed
// the secret (netip's error quotes its input). Errors now name the file,
// the line and what is wrong, with at most half of a value, cut and
// marked.
func TestSecretFeedNotEchoed(t *testing.T) {
	const secret = "Sup3rS3cret"
	dir := t.TempDir()
	write(t, filepath.Join(dir, "pw"), secret+"\n"+secret+"/8\n10.0.0.1/"+secret+"\n")
	path := filepath.Join(dir, "r.yaml")
	write(t, path, "feeds:\n  - {name: f, file: pw}\nthreats:\n  - name: t\n    severity: low\n    when: {field: dest_ip, in_feed: f}\n")
	_, err := LoadFile(path)
	if err == nil {
		t.Fatal("loaded")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("the error echoes the secret:\n%v", err)
	}
	for _, want := range []string{"pw:1: feed \"f\": \"Sup3r\"… (11 bytes): not an IP address or CIDR",
		"pw:2: feed \"f\": \"Sup3rS\"… (13 bytes)", "pw:3: feed \"f\": \"10.0.0.1\"… (20 bytes): the prefix length after '/' is not a number"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// The reload log of `flowsieve run`.
	good := filepath.Join(dir, "good.yaml")
	write(t, good, rulesDropDev)
	h := startWatcher(t, good)
	body, _ := os.ReadFile(path)
	write(t, good, string(body))
	h.waitFor("the failed reload", func() bool { return h.fails.Load() >= 1 })
	for _, e := range h.logs.All() {
		if s := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(s, secret) {
			t.Errorf("the log echoes the secret: %s", s)
		}
	}
	if len(h.logs.FilterMessage("rules reload failed; the previous rules keep serving").All()) == 0 {
		t.Error("no log line for the failed reload")
	}
	// The secret file as the rule file itself.
	_, err = LoadFile(filepath.Join(dir, "pw"))
	if err == nil || strings.Contains(err.Error(), "Sup3r") || !strings.Contains(err.Error(), "must be a mapping") {
		t.Fatalf("secret as the rule file: %v", err)
	}
}

// TestFeedAnyAddress: a feed entry 0.0.0.0/0 flagged every flow, silently.
// An entry covering a whole address family is a load error unless the
// feed says allow_any: true.
func TestFeedAnyAddress(t *testing.T) {
	dir := t.TempDir()
	for _, entry := range []string{"0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "10.0.0.0/0"} {
		write(t, filepath.Join(dir, "any.txt"), "10.0.0.1\n"+entry+"\n")
		path := filepath.Join(dir, "r.yaml")
		write(t, path, "feeds:\n  - {name: f, file: any.txt}\n")
		_, err := LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), "any.txt:2: feed \"f\":") || !strings.Contains(err.Error(), "allow_any: true") {
			t.Errorf("%s: %v", entry, err)
		}
		write(t, path, "feeds:\n  - {name: f, file: any.txt, allow_any: true}\nthreats:\n  - {name: t, severity: low, when: {field: dest_ip, in_feed: f}}\n")
		s, err := LoadFile(path)
		if err != nil {
			t.Fatalf("%s with allow_any: %v", entry, err)
		}
		var v Verdict
		s.Judge(decode(t, `{"dest_ip":"`+map[bool]string{true: "2001:db8::1", false: "192.0.2.1"}[strings.Contains(entry, "::/0")]+`"}`), &v)
		if !v.Flagged() {
			t.Errorf("%s with allow_any does not match everything", entry)
		}
	}
}

// TestFIFOFeed: a feed that is a FIFO blocked the load for ever, and a
// reload with it: later edits and SIGHUP were ignored, nothing logged.
// Rule and feed files must be regular files: the reload fails at once with
// a clear error, the old rules keep serving, OnReload (the metric) hears
// of it, and a later good edit loads.
func TestFIFOFeed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	fifo := filepath.Join(dir, "c2.txt")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := LoadFile(filepath.Join(dir, "c2.txt")); err == nil || !strings.Contains(err.Error(), "a named pipe (FIFO)") {
		t.Errorf("FIFO as the rule file: %v", err)
	}
	h := startWatcher(t, path)
	v0 := h.w.Current().Version()
	write(t, path, rulesFeed)
	h.waitFor("the failed reload", func() bool { return h.fails.Load() >= 1 })
	if h.w.Current().Version() != v0 {
		t.Error("the rules changed")
	}
	err := h.w.Reload() // SIGHUP
	if err == nil || !strings.Contains(err.Error(), "c2.txt is not a regular file but a named pipe (FIFO)") {
		t.Errorf("Reload: %v", err)
	}
	if time.Since(start) > 4*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	if len(h.logs.FilterMessage("rules reload failed; the previous rules keep serving").All()) == 0 {
		t.Error("the failed reload is not logged")
	}
	// Replace the FIFO with a regular feed: the next event loads it.
	os.Remove(fifo)
	write(t, fifo, "198.51.100.7\n")
	h.waitFor("the good reload", func() bool { return len(h.w.Current().ThreatRules()) == 1 })
}

// A load given up on (its context ended: a signal, the reload deadline)
// returns at once with an error naming the file, and does not count as
// hanging once its goroutine is done.
func TestLoadFileContextEnded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupted"))
	for range 20 {
		_, err := LoadFileContext(ctx, path)
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("error %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for hungReads.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d loads still counted as hanging", hungReads.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := LoadFileContext(context.Background(), path); err != nil {
		t.Fatal(err)
	}
}
