package goldmane

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/keepalive"

	api "github.com/flowsieve/flowsieve/internal/goldmaneapi"
)

// IntervalSeconds is Goldmane's aggregation interval; the stream request
// must say it.
const IntervalSeconds = 15

// Config is the ingester's settings.
type Config struct {
	Addr  string // Goldmane's host:port
	TLS   TLSFiles
	Topic string
	// StateFile keeps the position across restarts; "" keeps it in
	// memory only (a restart then starts from InitialBackfill).
	StateFile string
	// InitialBackfill is how far back to start with no position: 0 from
	// now, else that much of Goldmane's history.
	InitialBackfill time.Duration
	// MaxBackfill is the oldest position asked for, a little less than
	// Goldmane's history (242 intervals of 15s, about an hour): Goldmane
	// answers an older start_time_gte with no history at all.
	MaxBackfill time.Duration
	// BackoffMin and BackoffMax bound the wait between reconnects.
	BackoffMin, BackoffMax time.Duration
	// FlushTimeout bounds the wait for Kafka at an interval's end and at
	// shutdown.
	FlushTimeout time.Duration
	Log          *zap.Logger
	Metrics      *Metrics
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Ingester streams one Goldmane's flows into one topic. Run it once.
type Ingester struct {
	cfg   Config
	kafka *kgo.Client
	creds *certCreds
	conn  *grpc.ClientConn
	log   *zap.Logger
	m     *Metrics

	streamOpen atomic.Bool
	produceErr atomic.Pointer[error] // first failure since the last interval end

	// Owned by Run's goroutine.
	pos         int64             // resume position; 0 = none yet
	cur         int64             // start of the interval being received
	seen        map[[32]byte]bool // keys produced in interval pos by this process
	uncertain   bool              // interval pos may be on Kafka already from before (restart, failure)
	lastEnd     int64
	brokenSince time.Time // start of the current episode of failures; zero when streaming
	attempts    int
}

// New checks the settings and loads the certificates and the state file.
// kafka is the producer, with DefaultProduceTopic unset; the ingester
// flushes it but does not close it.
func New(cfg Config, kafka *kgo.Client) (*Ingester, error) {
	if cfg.Addr == "" {
		return nil, errors.New("goldmane address: required (host:port)")
	}
	if cfg.Topic == "" {
		return nil, errors.New("topic: required")
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 500 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = max(30*time.Second, cfg.BackoffMin)
	}
	if cfg.MaxBackfill <= 0 {
		cfg.MaxBackfill = 55 * time.Minute
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = time.Minute
	}
	if cfg.InitialBackfill > cfg.MaxBackfill {
		return nil, fmt.Errorf("initial backfill %v is longer than the max backfill %v", cfg.InitialBackfill, cfg.MaxBackfill)
	}
	creds, err := newCertCreds(cfg.TLS)
	if err != nil {
		return nil, err
	}
	pos, err := loadState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	if err := checkStateDir(cfg.StateFile); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.Addr, grpc.WithTransportCredentials(creds),
		// A connection that dies without a FIN (a node lost, a proxy's
		// idle timeout) would leave Recv waiting for ever. Goldmane keeps
		// gRPC's default enforcement (no pings more often than every 5
		// minutes, else it hangs up), so ping every 6.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 6 * time.Minute, Timeout: 20 * time.Second}),
		// gRPC redials on its own schedule (up to 2 minutes apart by
		// default) and fails calls fast meanwhile: keep it to ours.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: cfg.BackoffMin, Multiplier: 2, Jitter: 0.2, MaxDelay: cfg.BackoffMax},
			MinConnectTimeout: 20 * time.Second,
		}))
	if err != nil {
		return nil, fmt.Errorf("goldmane address %q: %w", cfg.Addr, err)
	}
	in := &Ingester{cfg: cfg, kafka: kafka, creds: creds, conn: conn, log: cfg.Log, m: cfg.Metrics,
		pos: pos, seen: map[[32]byte]bool{}, uncertain: pos != 0}
	if in.m == nil {
		in.m = NewMetrics(prometheus.NewRegistry())
	}
	in.m.Position.Set(float64(pos))
	return in, nil
}

// Ready reports whether the stream is open on a live connection and Kafka
// took every record so far.
func (in *Ingester) Ready() error {
	switch {
	case !in.streamOpen.Load() || in.conn.GetState() != connectivity.Ready:
		return errors.New("goldmane stream not open")
	case in.produceErr.Load() != nil:
		return fmt.Errorf("kafka: %w", *in.produceErr.Load())
	}
	return nil
}

// Handler serves /healthz (the process runs) and /readyz (Ready).
func (in *Ingester) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := in.Ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Run streams until ctx is done (nil) or a certificate problem stops it.
// Records handed to Kafka are flushed before it returns.
func (in *Ingester) Run(ctx context.Context) error {
	defer in.conn.Close()
	defer in.flushAtExit()
	for {
		err := in.stream(ctx)
		in.streamOpen.Store(false)
		in.m.Connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if ce := in.creds.take(); ce != nil {
			return ce
		}
		if in.brokenSince.IsZero() {
			in.brokenSince = in.cfg.Now()
			in.log.Warn("goldmane stream broken; reconnecting with back-off (logged once until it recovers)",
				zap.String("addr", in.cfg.Addr), zap.Int64("resume_from", in.pos), zap.Error(err))
		} else {
			in.log.Debug("goldmane reconnect failed", zap.Int("attempt", in.attempts), zap.Error(err))
		}
		in.m.Reconnects.Inc()
		in.attempts++
		t := time.NewTimer(backoff(in.attempts, in.cfg.BackoffMin, in.cfg.BackoffMax))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// backoff is the wait before attempt n (1, 2, ...): doubling from lo up to
// hi, with up to 25% jitter so replicas of anything do not stampede.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// request is the stream request for the current position: from it, but
// not older than MaxBackfill (relative, so Goldmane's clock decides).
func (in *Ingester) request() *api.FlowStreamRequest {
	req := &api.FlowStreamRequest{AggregationInterval: IntervalSeconds}
	oldest := in.cfg.Now().Add(-in.cfg.MaxBackfill).Unix()
	switch {
	case in.pos == 0 && in.cfg.InitialBackfill > 0:
		req.StartTimeGte = -int64(in.cfg.InitialBackfill / time.Second)
	case in.pos == 0:
		req.StartTimeGte = 0 // from now
	case in.pos < oldest:
		in.log.Warn("the resume position is older than Goldmane keeps; the flows in between are lost",
			zap.Time("position", time.Unix(in.pos, 0)), zap.Duration("max_backfill", in.cfg.MaxBackfill))
		req.StartTimeGte = -int64(in.cfg.MaxBackfill / time.Second)
	default:
		req.StartTimeGte = in.pos
	}
	return req
}

// stream runs one Stream call until it breaks.
func (in *Ingester) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := api.NewFlowsClient(in.conn).Stream(ctx, in.request())
	if err != nil {
		return err
	}
	in.streamOpen.Store(true)
	in.m.Connected.Set(1)
	for {
		res, err := st.Recv()
		if err != nil {
			return err
		}
		if !in.brokenSince.IsZero() {
			in.log.Info("goldmane stream resumed", zap.Duration("after", in.cfg.Now().Sub(in.brokenSince)),
				zap.Int("attempts", in.attempts), zap.Int64("resume_from", in.pos))
			in.brokenSince, in.attempts = time.Time{}, 0
		}
		if err := in.handle(ctx, res.GetFlow()); err != nil {
			return err
		}
	}
}

// handle produces one flow, closing the previous interval first when the
// flow starts a newer one.
func (in *Ingester) handle(ctx context.Context, fl *api.Flow) error {
	in.m.Received.Inc()
	start := fl.GetStartTime()
	if end := fl.GetEndTime(); end > in.lastEnd {
		in.lastEnd = end
		in.m.LastFlowTime.Set(float64(end))
	}
	if start > in.cur {
		// The intervals before start are complete: the current one, or,
		// first thing after a restart, the position's when Goldmane sends
		// nothing for it.
		if in.cur != 0 || (in.pos != 0 && start > in.pos) {
			if err := in.closeInterval(ctx, start); err != nil {
				return err
			}
		}
		in.cur = start
		if in.pos == 0 {
			// A fresh start: from now on, resume from this interval.
			in.pos = start
			in.m.Position.Set(float64(start))
			if err := saveState(in.cfg.StateFile, start); err != nil {
				in.log.Error("cannot save the position", zap.String("state_file", in.cfg.StateFile), zap.Error(err))
			}
		}
	}
	rec, err := Convert(fl)
	if err != nil {
		in.m.Invalid.Inc()
		return nil
	}
	if rec.DroppedHits > 0 {
		in.m.HitsDropped.Add(float64(rec.DroppedHits))
	}
	var id [32]byte
	copy(id[:], rec.Key)
	switch {
	case start < in.cur:
		in.m.Late.Inc()
	case start == in.pos && in.seen[id]:
		in.m.DuplicatesSkipped.Inc()
		return nil
	case start == in.pos:
		in.seen[id] = true
		if in.uncertain {
			in.m.Replayed.Inc()
		}
	}
	in.kafka.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: in.cfg.Topic, Key: rec.Key, Value: rec.Value},
		func(_ *kgo.Record, err error) {
			if err != nil {
				in.m.ProduceErrors.Inc()
				in.produceErr.CompareAndSwap(nil, &err)
				return
			}
			in.m.Produced.Inc()
		})
	return nil
}

// closeInterval makes next the position once everything produced so far
// is on Kafka. A produce failure ends the stream: the interval is asked
// for again, and its flows counted as possible repeats.
func (in *Ingester) closeInterval(ctx context.Context, next int64) error {
	fctx, cancel := context.WithTimeout(ctx, in.cfg.FlushTimeout)
	err := in.kafka.Flush(fctx)
	cancel()
	if err != nil {
		return fmt.Errorf("waiting for kafka: %w", err)
	}
	if perr := in.produceErr.Swap(nil); perr != nil {
		in.seen = map[[32]byte]bool{}
		in.uncertain = true
		in.cur = 0
		return fmt.Errorf("producing to %s: %w", in.cfg.Topic, *perr)
	}
	if err := saveState(in.cfg.StateFile, next); err != nil {
		// Not fatal: the position in memory still serves reconnects; a
		// restart would repeat more than one interval.
		in.log.Error("cannot save the position", zap.String("state_file", in.cfg.StateFile), zap.Error(err))
	}
	in.pos = next
	in.seen = map[[32]byte]bool{}
	in.uncertain = false
	in.m.Position.Set(float64(next))
	return nil
}

// flushAtExit waits, within FlushTimeout, for the records handed over.
func (in *Ingester) flushAtExit() {
	ctx, cancel := context.WithTimeout(context.Background(), in.cfg.FlushTimeout)
	defer cancel()
	if err := in.kafka.Flush(ctx); err != nil {
		in.log.Warn("records not acknowledged by Kafka at exit; they are streamed again on restart", zap.Error(err))
	}
}
