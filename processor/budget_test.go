package processor

import (
	"context"
	"testing"
	"time"
)

func TestBudgetFullAndDrained(t *testing.T) {
	for _, c := range []struct {
		records, bytes int64
		full, drained  bool
	}{
		{0, 0, false, true},
		{50, 500, false, true},  // at half of both: polls may resume
		{51, 500, false, false}, // over half of the records
		{50, 501, false, false}, // over half of the bytes
		{99, 999, false, false},
		{100, 0, true, false}, // at the record cap
		{0, 1000, true, false},
		{150, 5000, true, false}, // one poll past the caps
	} {
		if got := full(c.records, c.bytes, 100, 1000); got != c.full {
			t.Errorf("full(%d records, %d bytes) = %v, want %v", c.records, c.bytes, got, c.full)
		}
		if got := drained(c.records, c.bytes, 100, 1000); got != c.drained {
			t.Errorf("drained(%d records, %d bytes) = %v, want %v", c.records, c.bytes, got, c.drained)
		}
	}
}

func TestBudgetPollSize(t *testing.T) {
	b := newBudget(100, 1<<20)
	if n := b.pollSize(30); n != 30 {
		t.Errorf("empty budget: poll %d, want 30", n)
	}
	b.take(90, 0)
	if n := b.pollSize(30); n != 10 {
		t.Errorf("10 records left: poll %d, want 10", n)
	}
	b.take(20, 0)
	if n := b.pollSize(30); n != 1 {
		t.Errorf("over the cap: poll %d, want 1 (wait decides whether to poll)", n)
	}
}

// TestBudgetWaitsUntilHalf: a full budget holds the poll loop until
// releases bring both counts to half, not at the first release.
func TestBudgetWaitsUntilHalf(t *testing.T) {
	b := newBudget(100, 1000)
	if err := b.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.take(100, 200)
	done := make(chan error, 1)
	go func() { done <- b.wait(context.Background()) }()
	for !b.waiting.Load() {
		time.Sleep(time.Millisecond)
	}
	b.release(10, 20) // 90 records: still over half
	select {
	case <-done:
		t.Fatal("wait returned with 90 of 100 records held")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(40, 80) // 50 records, 100 bytes: at half
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return once the budget was at half")
	}

	b.take(60, 0)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- b.wait(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("wait on a full budget returned nil after its context ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return when its context ended")
	}
}
