// Package goldmanefake is a stand-in for Calico Goldmane's Flows service,
// built from the same goldmane.proto: the tests of `flowsieve ingest
// goldmane` stream from it over mutual TLS, and the compose demo runs it
// (the hidden `flowsieve ingest goldmane-fake`).
//
// Its timeline is a function of the wall clock: interval k (start Base +
// 15k seconds) is complete, and streamed, once Tick*(k+1) has passed since
// Epoch. Two fakes with the same Epoch therefore hold the same history, the
// way Goldmane rebuilds its history from the nodes' replays after a
// restart, so a test can stop the server and start another in its place.
// A stream request's start_time_gte replays the complete intervals at or
// after it, oldest first (Goldmane's backfill), then each new interval as
// it completes; 0 means "from now".
package goldmanefake

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	api "github.com/flowsieve/flowsieve/internal/goldmaneapi"
)

// IntervalSeconds is Goldmane's aggregation interval.
const IntervalSeconds = 15

// Timeline says which flows the fake has and when.
type Timeline struct {
	Epoch time.Time     // when interval 0 started, in wall-clock time
	Tick  time.Duration // wall-clock length of one interval (Goldmane: 15s)
	Base  int64         // start_time of interval 0, Unix seconds
	// Intervals, when > 0, is how many intervals there are; the stream
	// then stays open, sending nothing more.
	Intervals int
	// Flows returns the flows of the interval that starts at start; nil
	// means Shapes.
	Flows func(start int64) []*api.Flow
}

// complete is how many intervals are complete at now.
func (tl Timeline) complete(now time.Time) int {
	n := int(now.Sub(tl.Epoch) / tl.Tick)
	if n < 0 {
		n = 0
	}
	if tl.Intervals > 0 && n > tl.Intervals {
		n = tl.Intervals
	}
	return n
}

// Start returns interval k's start time.
func (tl Timeline) Start(k int) int64 { return tl.Base + int64(k)*IntervalSeconds }

func (tl Timeline) flows(k int) []*api.Flow {
	if tl.Flows != nil {
		return tl.Flows(tl.Start(k))
	}
	return Shapes(tl.Start(k))
}

// Server serves a Timeline.
type Server struct {
	api.UnimplementedFlowsServer
	tl  Timeline
	gs  *grpc.Server
	ln  net.Listener
	wg  sync.WaitGroup
	err error
}

// Start serves tl on addr ("127.0.0.1:0" picks a port) with the TLS
// config, which should require client certificates as Goldmane does.
func Start(addr string, tlsCfg *tls.Config, tl Timeline) (*Server, error) {
	if tl.Tick <= 0 {
		return nil, fmt.Errorf("goldmanefake: tick %v must be > 0", tl.Tick)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("goldmanefake: %w", err)
	}
	s := &Server{tl: tl, ln: ln, gs: grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsCfg)))}
	api.RegisterFlowsServer(s.gs, s)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.err = s.gs.Serve(ln)
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop closes the listener and every stream at once, as a crashing
// Goldmane would, and waits for the server to finish.
func (s *Server) Stop() {
	s.gs.Stop()
	s.wg.Wait()
}

// Stream implements Flows.Stream.
func (s *Server) Stream(req *api.FlowStreamRequest, st grpc.ServerStreamingServer[api.FlowResult]) error {
	tl := s.tl
	next := tl.complete(time.Now()) // 0: from now
	if gte := req.GetStartTimeGte(); gte != 0 {
		if gte < 0 { // relative to now
			gte += tl.Start(next)
		}
		next = 0
		for next < tl.complete(time.Now()) && tl.Start(next) < gte {
			next++
		}
	}
	for {
		for ; next < tl.complete(time.Now()); next++ {
			for i, f := range tl.flows(next) {
				if err := st.Send(&api.FlowResult{Id: int64(i), Flow: f}); err != nil {
					return err
				}
			}
		}
		wait := time.Until(tl.Epoch.Add(time.Duration(next+1) * tl.Tick))
		if tl.Intervals > 0 && next >= tl.Intervals {
			wait = time.Hour
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-st.Context().Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Serve runs a server until ctx is done (the hidden demo command).
func Serve(ctx context.Context, addr string, tlsCfg *tls.Config, tl Timeline) error {
	s, err := Start(addr, tlsCfg, tl)
	if err != nil {
		return err
	}
	<-ctx.Done()
	s.Stop()
	return nil
}
