package processor

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// TestPurgeRecreatedOncePerRecreation: a topic is purged for a failure of a
// record routed before its last purge only once, so partitions whose
// buffered records the purge failed do not purge it again (and fail each
// other's retries); a failure of a record routed after the purge purges
// it again (the topic was recreated once more).
func TestPurgeRecreatedOncePerRecreation(t *testing.T) {
	// Purging needs a client, not a broker: nothing is buffered.
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reg := prometheus.NewRegistry()
	p := &Pipeline{producer: cl, m: NewMetrics(reg), log: zap.NewNop()}
	series := "flowsieve_output_topic_recreations_total{topic=out}"

	routed := p.recreated.count.Load()
	for i, want := range []float64{1, 1, 1} { // three partitions, one recreation
		if !p.purgeRecreated(map[string]uint64{"out": routed}) {
			t.Fatalf("partition %d: the topic is back, want true", i)
		}
		if got := gathered(t, reg)[series]; got != want {
			t.Fatalf("partition %d: %s = %v, want %v", i, series, got, want)
		}
	}
	// Routed after the purge and failed again: recreated once more.
	p.purgeRecreated(map[string]uint64{"out": p.recreated.count.Load()})
	if got := gathered(t, reg)[series]; got != 2 {
		t.Fatalf("%s = %v after a second recreation, want 2", series, got)
	}
	if p.purgeRecreated(nil) {
		t.Error("nothing recreated, want false")
	}
}

func TestIsRecreated(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{kerr.UnknownTopicID, true},
		{fmt.Errorf("producing: %w", kerr.UnknownTopicID), true},
		{kerr.UnknownTopicOrPartition, false},
		{kerr.TopicAuthorizationFailed, false},
	} {
		if got := isRecreated(tc.err); got != tc.want {
			t.Errorf("isRecreated(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !outputRecreated(fmt.Errorf("%w, %w", kerr.TransactionAbortable, kerr.UnknownTopicID)) {
		t.Error("an aborted commit over a recreated output topic is not recognised")
	}
	if outputRecreated(kerr.UnknownTopicID) {
		t.Error("a recreated input topic (UNKNOWN_TOPIC_ID alone) must stay fatal")
	}
}
