// Package flowgen generates realistic synthetic Calico flow logs for demos,
// load tests and benchmarks. A Generator is deterministic: the same seed and
// options give the same records, so a benchmark or a failing test can be
// replayed.
//
// The mix resembles a small cluster's traffic: pod-to-pod calls between
// deployments in several namespaces (default, prod, dev, staging,
// kube-system, monitoring, payments), DNS to coredns, egress to public
// services, internet traffic into an nginx-internet deployment from `pub`,
// and a few suspicious flows: to threat-feed addresses, to crypto-mining
// pool ports, and denied egress to public networks. About half the flows are
// aggregated as felix aggregates by default (pod prefix names ending in
// `*`, no IPs or source port); the rest carry full pod names and IPs.
package flowgen

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/flowsieve/flowsieve/codec"
)

// MiningPorts are destination ports of common crypto-mining pools.
var MiningPorts = []int{3333, 4444, 5555, 7777, 14444, 45700}

// DefaultThreatIPs stand in for a threat feed when Options.ThreatIPs is
// empty: addresses in the documentation ranges 198.51.100.0/24 and
// 203.0.113.0/24, which never appear in real traffic. All of them are in the
// sample feed config/feeds/c2-sample.txt, so the sample rules flag them.
var DefaultThreatIPs = []netip.Addr{
	netip.MustParseAddr("198.51.100.7"),
	netip.MustParseAddr("198.51.100.23"),
	netip.MustParseAddr("203.0.113.66"),
	netip.MustParseAddr("203.0.113.200"),
}

// Options tune the mix. Zero values take the defaults shown.
type Options struct {
	// ThreatIPs are destinations from a threat feed; some egress flows go
	// to them. Default DefaultThreatIPs.
	ThreatIPs []netip.Addr
	// Fractions of records of each suspicious kind. Defaults: threat 0.02,
	// mining 0.01, denied egress 0.03, nginx-internet 0.10. A negative
	// value means none.
	ThreatRatio, MiningRatio, DeniedEgressRatio, NginxInternetRatio float64
	// StartTime is the start_time of the first record (Unix seconds).
	// Default 1700000000. Time advances by one second every 50 records.
	StartTime int64
}

func ratio(v, def float64) float64 {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// Generator produces records; it is not safe for concurrent use.
type Generator struct {
	rng   *rand.Rand
	opts  Options
	count int64
	r     record
	buf   []byte
}

// New returns a Generator seeded with seed.
func New(seed int64, opts Options) *Generator {
	if len(opts.ThreatIPs) == 0 {
		opts.ThreatIPs = DefaultThreatIPs
	}
	opts.ThreatRatio = ratio(opts.ThreatRatio, 0.02)
	opts.MiningRatio = ratio(opts.MiningRatio, 0.01)
	opts.DeniedEgressRatio = ratio(opts.DeniedEgressRatio, 0.03)
	opts.NginxInternetRatio = ratio(opts.NginxInternetRatio, 0.10)
	if opts.StartTime == 0 {
		opts.StartTime = 1700000000
	}
	return &Generator{
		rng:  rand.New(rand.NewPCG(uint64(seed), 0x9E3779B97F4A7C15)),
		opts: opts,
	}
}

// Append appends one record in the given form, without a newline.
func (g *Generator) Append(dst []byte, format codec.Format) []byte {
	g.next()
	if format == codec.FormatJSON {
		return g.r.appendJSON(dst)
	}
	return g.r.appendText(dst)
}

// Next fills f with the next record, decoded from its text form. f's
// strings point into the Generator's buffer: valid until the next call.
func (g *Generator) Next(f *codec.Flow) error {
	g.next()
	g.buf = g.r.appendText(g.buf[:0])
	return codec.DecodeText(g.buf, f)
}

// Count reports how many records have been generated.
func (g *Generator) Count() int64 { return g.count }

type workloadSpec struct {
	ns, app, hash string // hash "" for a StatefulSet (pods app-0, app-1)
	port, proto   int
	svcPort       string
	labels        string // extra label besides app=
}

// workload is a spec with the strings a record needs derived once, so a
// record costs no string building.
type workload struct {
	workloadSpec
	aggr, appLabel, profile string
}

var workloads = func() []workload {
	ws := make([]workload, len(workloadSpecs))
	for i := range ws {
		w := &ws[i]
		w.workloadSpec = workloadSpecs[i]
		w.appLabel = "app=" + w.app
		w.profile = "0|__PROFILE__|__PROFILE__.kns." + w.ns + "|allow|0"
		if w.hash == "" {
			w.aggr = w.app + "-*"
		} else {
			w.aggr = w.app + "-" + w.hash + "-*"
		}
	}
	return ws
}()

var workloadSpecs = []workloadSpec{
	{"default", "frontend", "755cdc7957", 8080, 6, "http", "tier=web"},
	{"default", "cartservice", "7d4899b484", 7070, 6, "grpc", "tier=backend"},
	{"default", "checkoutservice", "598d5b586d", 5050, 6, "grpc", "tier=backend"},
	{"default", "redis-cart", "6f7bd8c9b8", 6379, 6, "redis", "tier=cache"},
	{"prod", "api", "5c9d7f6b8d", 8443, 6, "https", "tier=backend"},
	{"prod", "postgres", "", 5432, 6, "postgres", "tier=db"},
	{"prod", "nginx-internet", "84d9b7c6f5", 80, 6, "http", "tier=edge"},
	{"payments", "payments-api", "6b8f9c7d5d", 9000, 6, "grpc", "pci=true"},
	{"dev", "rails", "81531f7c9d", 3000, 6, "http", "team=web"},
	{"dev", "memcached", "38456b6c7d", 11211, 6, "memcache", "team=web"},
	{"staging", "web", "7c8d9e6f5a", 8080, 6, "http", "team=web"},
	{"kube-system", "coredns", "5d78c9869d", 53, 17, "dns", "k8s-app=kube-dns"},
	{"kube-system", "metrics-server", "6d94bc8694", 4443, 6, "https", "k8s-app=metrics-server"},
	{"monitoring", "prometheus", "", 9090, 6, "web", "team=sre"},
}

// Indices into workloads used by specific scenarios.
const (
	wNginx   = 6
	wCoreDNS = 11
)

// publicServices are public addresses pods talk to (CDNs, cloud APIs).
var publicServices = []netip.Addr{
	netip.MustParseAddr("52.94.236.248"),
	netip.MustParseAddr("142.250.72.14"),
	netip.MustParseAddr("151.101.1.69"),
	netip.MustParseAddr("104.16.132.229"),
	netip.MustParseAddr("13.107.42.14"),
	netip.MustParseAddr("140.82.112.3"),
	netip.MustParseAddr("185.199.108.153"),
	netip.MustParseAddr("2606:4700::6810:84e5"),
}

type record struct {
	start, end                   int64
	srcType, srcNS, srcAggr      string
	srcName                      string // "" when aggregated
	srcLabels                    [2]string
	dstType, dstNS, dstAggr      string
	dstName                      string
	dstLabels                    [2]string
	srcIP, dstIP                 netip.Addr
	proto, srcPort, dstPort      int // ports -1 when absent
	svcNS, svcName, svcPort      string
	svcPortNum                   int
	flows, started, completed    int
	reporter, action             string
	pktIn, pktOut, bytIn, bytOut int
	policy                       string
	textLabels                   bool      // felix writes text labels only when enabled
	nameBuf                      [2][]byte // backing for pod names
}

const podChars = "bcdfghjklmnpqrstvwxz2456789"

// pod writes a pod name of w into name buffer i. The string aliases the
// buffer: it is valid until the next record, which is all a record needs.
func (g *Generator) pod(i int, w *workload) string {
	b := append(g.r.nameBuf[i][:0], w.app...)
	b = append(b, '-')
	if w.hash == "" {
		b = strconv.AppendInt(b, int64(g.rng.IntN(3)), 10)
	} else {
		b = append(b, w.hash...)
		b = append(b, '-')
		for range 5 {
			b = append(b, podChars[g.rng.IntN(len(podChars))])
		}
	}
	g.r.nameBuf[i] = b
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func (g *Generator) podIP() netip.Addr {
	return netip.AddrFrom4([4]byte{10, 244, byte(g.rng.IntN(8)), byte(2 + g.rng.IntN(250))})
}

func (g *Generator) setSrcWorkload(w *workload, aggregated bool) {
	r := &g.r
	r.srcType, r.srcNS = "wep", w.ns
	name := g.pod(0, w)
	r.srcAggr = w.aggr
	r.srcLabels = [2]string{w.appLabel, w.labels}
	if aggregated {
		r.srcName, r.srcIP, r.srcPort = "", netip.Addr{}, -1
	} else {
		r.srcName, r.srcIP, r.srcPort = name, g.podIP(), 32768+g.rng.IntN(28000)
	}
}

func (g *Generator) setDstWorkload(w *workload, aggregated bool) {
	r := &g.r
	r.dstType, r.dstNS = "wep", w.ns
	name := g.pod(1, w)
	r.dstAggr = w.aggr
	r.dstLabels = [2]string{w.appLabel, w.labels}
	r.dstPort, r.proto = w.port, w.proto
	r.svcNS, r.svcName, r.svcPort, r.svcPortNum = w.ns, w.app, w.svcPort, w.port
	if aggregated {
		r.dstName, r.dstIP = "", netip.Addr{}
	} else {
		r.dstName, r.dstIP = name, g.podIP()
	}
}

func (g *Generator) setDstPublic(ip netip.Addr, port int) {
	r := &g.r
	r.dstType, r.dstNS, r.dstAggr, r.dstName = "net", "", "pub", "pub"
	r.dstLabels = [2]string{}
	r.dstIP, r.dstPort, r.proto = ip, port, 6
	r.svcNS, r.svcName, r.svcPort, r.svcPortNum = "", "", "", 0
}

func (g *Generator) next() {
	g.r = record{nameBuf: g.r.nameBuf}
	r := &g.r
	rng := g.rng
	r.start = g.opts.StartTime + g.count/50
	r.end = r.start + 300
	g.count++
	aggregated := rng.IntN(2) == 0
	r.textLabels = rng.IntN(4) == 0
	r.reporter, r.action = "src", "allow"
	if rng.IntN(2) == 0 {
		r.reporter = "dst"
	}
	src := &workloads[rng.IntN(len(workloads))]
	for src.app == "nginx-internet" || src.app == "coredns" {
		src = &workloads[rng.IntN(len(workloads))]
	}
	r.policy = src.profile

	o := &g.opts
	x := rng.Float64()
	switch {
	case x < o.ThreatRatio:
		g.setSrcWorkload(src, false)
		ports := [...]int{443, 80, 8080, 8443, 53}
		g.setDstPublic(o.ThreatIPs[rng.IntN(len(o.ThreatIPs))], ports[rng.IntN(len(ports))])
		r.reporter = "src"
	case x < o.ThreatRatio+o.MiningRatio:
		g.setSrcWorkload(src, false)
		ip := netip.AddrFrom4([4]byte{byte(45 + rng.IntN(100)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		g.setDstPublic(ip, MiningPorts[rng.IntN(len(MiningPorts))])
		r.reporter = "src"
	case x < o.ThreatRatio+o.MiningRatio+o.DeniedEgressRatio:
		g.setSrcWorkload(src, aggregated)
		g.setDstPublic(publicServices[rng.IntN(len(publicServices))], 443)
		if aggregated {
			r.dstIP = netip.Addr{}
		}
		r.reporter, r.action = "src", "deny"
		r.policy = "1|security|security.default-deny-egress|deny|-1"
	case x < o.ThreatRatio+o.MiningRatio+o.DeniedEgressRatio+o.NginxInternetRatio:
		r.srcType, r.srcNS, r.srcAggr, r.srcName = "net", "", "pub", "pub"
		if !aggregated {
			r.srcIP = publicServices[rng.IntN(len(publicServices)-1)].Next()
			r.srcPort = 1024 + rng.IntN(60000)
		} else {
			r.srcPort = -1
		}
		g.setDstWorkload(&workloads[wNginx], aggregated)
		if rng.IntN(3) == 0 {
			r.dstPort, r.svcPort, r.svcPortNum = 443, "https", 443
		}
		r.reporter = "dst"
		r.policy = "0|default|prod.allow-internet-ingress|allow|0"
	default:
		g.setSrcWorkload(src, aggregated)
		switch y := rng.IntN(10); {
		case y < 3:
			g.setDstWorkload(&workloads[wCoreDNS], aggregated)
		case y < 5:
			g.setDstPublic(publicServices[rng.IntN(len(publicServices))], 443)
			if aggregated {
				r.dstIP = netip.Addr{}
			}
		default:
			dst := &workloads[rng.IntN(len(workloads))]
			for dst.app == "nginx-internet" {
				dst = &workloads[rng.IntN(len(workloads))]
			}
			g.setDstWorkload(dst, aggregated)
		}
	}
	r.flows = 1 + rng.IntN(40)
	r.started = rng.IntN(r.flows + 1)
	r.completed = rng.IntN(r.flows + 1)
	r.pktIn = 1 + rng.IntN(2000)
	r.pktOut = 1 + rng.IntN(2000)
	if r.action == "deny" {
		r.pktIn, r.pktOut = 0, 1+rng.IntN(10)
		r.completed = 0
	}
	r.bytIn = r.pktIn * (60 + rng.IntN(1400))
	r.bytOut = r.pktOut * (60 + rng.IntN(1400))
}
