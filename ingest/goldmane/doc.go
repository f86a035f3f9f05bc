// Package goldmane streams Calico Goldmane's flows into Kafka as Calico
// flow-log JSON records: `flowsieve ingest goldmane`.
//
// Goldmane (Calico Open Source 3.30 and later) aggregates every node's
// flows into 15-second intervals and serves them over gRPC with mutual
// TLS; its Flows.Stream call sends one FlowResult per flow and interval,
// an interval's flows together once the interval is complete. Convert maps
// one flow to the record felix would have written for it (the same mapping
// as felix's ConvertGoldmaneToFlowlog; docs/ingest.md has the table), keyed
// by a hash of the flow key so one flow key always lands on one partition.
//
// # Delivery
//
// The position is the start of the oldest interval not known to be on
// Kafka. When the first flow of a newer interval arrives, the previous
// interval is complete: the ingester waits until Kafka has acknowledged
// every record produced so far, then moves the position to the new
// interval and writes it to the state file (write to a temporary file,
// fsync, rename), so that a restart or a reconnect asks Goldmane for
// start_time_gte = position and misses nothing Goldmane still holds.
// Repeats are bounded to the one interval the position names: within a
// process the keys produced in that interval are remembered and a
// reconnect skips them (flowsieve_ingest_duplicates_skipped_total); after
// a restart, or a produce failure, they are not known, so that interval's
// flows are produced again and counted as possible repeats
// (flowsieve_ingest_replayed_flows_total). A position older than
// Goldmane's history (about an hour) cannot be replayed: the ingester asks
// for the last MaxBackfill instead and says so.
//
// A broken stream is retried with exponential back-off and jitter; the
// first failure of an episode is logged at warn, the recovery at info,
// the attempts between at debug. Certificate problems are not retried:
// Run returns an error that names the certificate at fault (the server's
// not trusted by the CA file, its name not matching, or ours rejected).
package goldmane
