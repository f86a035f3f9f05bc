package processor

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestLagOf(t *testing.T) {
	for _, c := range []struct {
		name                        string
		end, done, start, committed int64
		lag                         int64
		ok                          bool
	}{
		{"nothing known", -1, -1, -1, -1, 0, false},
		{"end unknown", -1, 10, 5, 0, 0, false},
		{"nothing fetched, no commit", 100, -1, -1, -1, 0, false},
		{"nothing fetched: from the commit", 100, -1, -1, 40, 60, true},
		{"fetched, nothing finished: from the first fetched", 100, -1, 30, 40, 70, true},
		{"finished: from the first unfinished", 100, 90, 30, 40, 10, true},
		{"caught up", 100, 100, 30, 40, 0, true},
		{"end behind a fresher finish", 95, 100, 30, 40, 0, true},
		{"empty partition", 0, -1, -1, 0, 0, true},
	} {
		lag, ok := lagOf(c.end, c.done, c.start, c.committed)
		if lag != c.lag || ok != c.ok {
			t.Errorf("%s: lagOf(%d, %d, %d, %d) = %d, %v; want %d, %v", c.name, c.end, c.done, c.start, c.committed, lag, ok, c.lag, c.ok)
		}
	}
}

// TestLagTracker: fetches, finishes and listings in any order set the
// gauge from the newest of each; a listing older than a fetch does not
// lower the end, and only the first fetch since the assignment sets where
// processing starts.
func TestLagTracker(t *testing.T) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "lag"})
	l := newLagTracker(g)
	check := func(step string, want float64) {
		t.Helper()
		var m dto.Metric
		if err := g.Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetGauge().GetValue(); got != want {
			t.Errorf("%s: gauge %v, want %v", step, got, want)
		}
		if got := l.value.Load(); got != int64(want) {
			t.Errorf("%s: summary value %d, want %v", step, got, want)
		}
	}
	l.listedEnd(50)
	check("end listed, nothing else known", 0)
	l.committed.Store(20)
	l.listedEnd(50)
	check("from the commit", 30)
	l.fetched(20, 60)
	check("first fetch", 40)
	l.fetched(40, 70) // a later fetch does not move the start
	check("second fetch", 50)
	l.finished(45)
	check("some finished", 25)
	l.listedEnd(65) // answered after the fetch that saw 70
	check("stale listing", 25)
	l.listedEnd(200) // paused or stalled: only listings bring the end
	check("listing while stalled", 155)
	l.finished(200)
	check("caught up", 0)
}
