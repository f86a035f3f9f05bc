// Package processor is the flowsieve pipeline: a member of a consumer
// group over the raw flow-log topics that decodes each record, judges it
// with the current rules, and produces its outputs to the kept, threats
// and invalid topics.
//
// # Routing
//
// Where a record goes is a decision computed by one function (router.decide
// in route.go) from the record, the rules and the output topics' size
// limits, and applied in one place (worker.apply), which counts it and
// hands its outputs to the producer:
//
//   - not a flow log: the invalid topic, bytes unchanged, reason and source
//     in headers; counted invalid under the parse error's class;
//   - flagged by a threat rule: the threats topic, as JSON with the hits;
//     counted flagged, per rule;
//   - kept by the filters: the kept topic, as it came (or normalised JSON,
//     output.format); counted kept. Dropped: no output; counted dropped,
//     per filter.
//
// A flagged flow the filters keep goes to both. Every input counts as
// exactly one of kept, dropped and invalid, and as flagged besides.
//
// Sizes: an output the brokers would refuse as too large (over the topic's
// max.message.bytes or the producer's batch limit, oversize.go) would stall
// its partition for ever, so it is never produced. The invalid topic gets
// an input only when the input itself cannot be processed: it does not
// decode, or its kept output cannot be written.
//
//   - A threat is never hidden by size. The threat record depends on the
//     verdict alone: a flagged input's threat record is produced, and
//     counted flagged, whatever becomes of its kept output. A threat record
//     too large for the threats topic is produced cut to fit
//     (rules.AppendThreatJSONCut): the verdict whole, the flow's JSON as a
//     string cut at a character boundary, marked "record_cut" with its
//     length in "record_bytes". Only a verdict too large by itself (never
//     with the brokers' limits and a sane rule file) sends the input to
//     the invalid topic instead.
//   - A kept record too large for the kept topic (as it came, or once
//     re-encoded as JSON) sends the input to the invalid topic, reason
//     "oversize: ...", counted invalid and not kept.
//   - An invalid record too large even for the invalid topic is cut to
//     fit, HeaderTruncated holding its original length.
//
// # Shadow rules
//
// With Config.ShadowRules every decoded flow is judged a second time, by
// the shadow rules, inside the same decision: router.decide finishes the
// live outputs first, then judgeShadow adds at most one more output, the
// disagreement for the shadow topic, marked capped. The live outputs and
// counts are those the live rules alone give. worker.apply produces a
// capped output only while the pipeline's rate limiter (shadowCap,
// output.shadow_max_per_sec) allows, and counts the rest suppressed, so
// the decision stays a pure function and the cap one effect among the
// others. The shadow decisions are counted from the verdicts (as
// `flowsieve filter --shadow` counts them), and the shadow per-rule series
// follow the shadow Set as the live ones follow theirs (ruleSeries).
// Invalid records are judged by neither.
//
// # Delivery: at-least-once
//
// The default (after franz-go's goroutine_per_partition_consuming
// examples). One worker goroutine per assigned partition routes its
// records in offset order and keeps each in a queue until every output is
// acknowledged; an input offset is committed only after the outputs of that
// record and of every earlier record of its partition are acknowledged.
// BlockRebalanceOnPoll keeps the worker registry owned by the poll loop and
// the rebalance callbacks; AutoCommitMarks commits what workers mark, and
// the revoke callback drains the workers (waits for the outputs in flight)
// and commits before partitions go. A failed produce stalls its partition:
// nothing after it is committed, and once nothing is in flight every
// unacknowledged record from the failed one on is routed again, after a
// back-off (the oldest alone first, the rest once it is acknowledged, so
// that an output recovering mid-retry keeps the order), and its fetching
// pauses meanwhile. Records consumed but not
// acknowledged are capped for the whole process (MaxInflightRecords,
// MaxInflightBytes; budget.go): at a cap the poll loop stops polling.
// A worker hands its outputs to the producer in runs (every 256 records
// routed, and before it waits for anything), not one between two records:
// franz-go's Produce takes a client-wide lock per record, and in runs the
// lock stays on one core and the producer's code in its cache.
//
// # Delivery: exactly-once
//
// Consume-transform-produce in Kafka transactions (transact.go). One client
// (a kgo.GroupTransactSession) consumes and produces. Each transaction
// takes the records of one or more polls (up to TxnMaxRecords or
// MaxInflightBytes of input, for at most TxnInterval), routes every
// partition's records on a goroutine of its own with that partition's
// worker while it polls for more (lanes), waits for every output to be
// acknowledged, and
// ends the transaction: the outputs and the input offsets commit together
// or not at all. A rebalance during a transaction, a failed produce, or a
// failed offset commit aborts it; the session then rewinds to the
// committed offsets and the same records are routed again in a new
// transaction (not counted again). franz-go always fetches group offsets
// with RequireStable (KIP-447): a new owner waits while a transaction that
// may still commit offsets of its partitions is open. Readers with
// isolation.level=read_committed never see the outputs of an aborted
// transaction, so they see each input's outputs exactly once.
//
// Both modes share the client set-up (client.go: producer options, buffer
// limits, the start-up ping and topic checks, fetch-error logging, the
// back-off) and the partition registry (registry.go).
//
// # Recreated output topics
//
// An output topic deleted and created again under a running pipeline
// recovers without a restart (recreated.go). franz-go never moves a topic
// name to a new topic ID: once its metadata shows the recreated topic's new
// ID, every record to that topic fails with UNKNOWN_TOPIC_ID, buffered or
// produced later, for the life of the client, until the topic is purged
// from the client (its documented recovery, "purge, then produce again").
// A purge forgets the topic's buffers, sequence numbers and ID; the next
// record to it loads fresh metadata and goes to the new topic.
//
// A purge also fails, with "topic purged while buffered", whatever is still
// buffered for the topic, including records other partitions produced
// after the topic came back. Those fail like any produce failure and their
// partitions retry them, but a purge per failed record would keep failing
// the retries of the others. So the purges are counted: each entry
// remembers the count when it was routed (entry.purges), and a topic is
// purged again only for a failure of a record routed after its last purge,
// that is, only when the client may still hold a stale ID.
//
// Purging is never done from a produce promise: PurgeTopicsFromProducing
// runs on the client's metadata goroutine and waits for it, and the
// promise goroutine must keep finishing records meanwhile. The partition
// worker (at-least-once) purges before its retry, once nothing of its own
// is in flight; the transactor (exactly-once) purges after the aborted
// transaction's end, when nothing is in flight at all.
//
// # Consumer lag
//
// Consumer lag (flowsieve_consumer_lag, lag.go) is how far processing, not
// fetching, is behind the input:
//
//	lag = log end offset - offset of the first record not yet finished
//
// A record is finished when it will not be processed again: at-least-once,
// once every output of it and of every earlier record of its partition is
// acknowledged (the offset the worker marks for commit); exactly-once, once
// the transaction that routed it commits. Records fetched but waiting, or
// stalled on an output that cannot be written, count as lag.
//
// The log end offset is the high watermark (exactly-once, which reads
// committed input only: the last stable offset). Each fetch brings it for
// free; the partitions that are not fetched, paused by back-pressure or
// idle, get it from a listing every Config.LagRefreshInterval (refreshLag),
// so their lag keeps growing while the input does.
package processor
