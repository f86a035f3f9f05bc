package codec

import (
	"math/bits"
	"net/netip"
)

// Kind is the JSON type a value was written with. Fluent Bit matches only
// KindString values and fluentd renders the others with Ruby's to_s, so the
// kind as written matters to rule semantics, not just the typed value.
type Kind uint8

const (
	KindAbsent Kind = iota // the record does not have the field
	KindNull
	KindString
	KindNumber
	KindBool
	KindArray
	KindObject
)

var kindNames = [...]string{"absent", "null", "string", "number", "bool", "array", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Type is what Calico declares a field to hold. Typed conditions (CIDR,
// numeric, label) check it when rules are compiled.
type Type uint8

const (
	TypeString     Type = iota
	TypeInt             // JSON integer
	TypeIP              // string holding an IPv4/IPv6 address, or null
	TypeLabels          // {"labels": ["k=v", ...]}
	TypePolicies        // {"all_policies": [...]} or enforced/pending/transit lists
	TypeStringList      // array of strings
	TypeIntList         // array of integers
)

// Field identifies one of Calico's flow-log fields.
type Field uint8

const (
	StartTime Field = iota
	EndTime
	SourceType
	SourceNamespace
	SourceName
	SourceNameAggr
	SourceLabels
	SourceIP
	SourcePort
	DestType
	DestNamespace
	DestName
	DestNameAggr
	DestLabels
	DestIP
	DestPort
	DestServiceNamespace
	DestServiceName
	DestServicePort
	DestServicePortNum
	DestDomains
	Proto
	NumFlows
	NumFlowsStarted
	NumFlowsCompleted
	Reporter
	PacketsIn
	PacketsOut
	BytesIn
	BytesOut
	Action
	Policies
	OriginalSourceIPs
	NumOriginalSourceIPs
	NatOutgoingPorts
	ProcessName
	ProcessID
	NumProcessNames
	NumProcessIDs
	ProcessArgs
	NumProcessArgs
	HTTPRequestsAllowedIn
	HTTPRequestsDeniedIn
	Host
	TCPMeanSendCongestionWindow
	TCPMinSendCongestionWindow
	TCPMeanSmoothRTT
	TCPMaxSmoothRTT
	TCPMeanMinRTT
	TCPMaxMinRTT
	TCPMeanMSS
	TCPMinMSS
	TCPTotalRetransmissions
	TCPLostPackets
	TCPUnrecoveredTo
	TransitBytesIn
	TransitBytesOut
	TransitPacketsIn
	TransitPacketsOut
	NumFields // number of known fields; not a field
)

type fieldInfo struct {
	name string
	typ  Type
}

var fields = [NumFields]fieldInfo{
	StartTime:                   {"start_time", TypeInt},
	EndTime:                     {"end_time", TypeInt},
	SourceType:                  {"source_type", TypeString},
	SourceNamespace:             {"source_namespace", TypeString},
	SourceName:                  {"source_name", TypeString},
	SourceNameAggr:              {"source_name_aggr", TypeString},
	SourceLabels:                {"source_labels", TypeLabels},
	SourceIP:                    {"source_ip", TypeIP},
	SourcePort:                  {"source_port", TypeInt},
	DestType:                    {"dest_type", TypeString},
	DestNamespace:               {"dest_namespace", TypeString},
	DestName:                    {"dest_name", TypeString},
	DestNameAggr:                {"dest_name_aggr", TypeString},
	DestLabels:                  {"dest_labels", TypeLabels},
	DestIP:                      {"dest_ip", TypeIP},
	DestPort:                    {"dest_port", TypeInt},
	DestServiceNamespace:        {"dest_service_namespace", TypeString},
	DestServiceName:             {"dest_service_name", TypeString},
	DestServicePort:             {"dest_service_port", TypeString},
	DestServicePortNum:          {"dest_service_port_num", TypeInt},
	DestDomains:                 {"dest_domains", TypeStringList},
	Proto:                       {"proto", TypeString},
	NumFlows:                    {"num_flows", TypeInt},
	NumFlowsStarted:             {"num_flows_started", TypeInt},
	NumFlowsCompleted:           {"num_flows_completed", TypeInt},
	Reporter:                    {"reporter", TypeString},
	PacketsIn:                   {"packets_in", TypeInt},
	PacketsOut:                  {"packets_out", TypeInt},
	BytesIn:                     {"bytes_in", TypeInt},
	BytesOut:                    {"bytes_out", TypeInt},
	Action:                      {"action", TypeString},
	Policies:                    {"policies", TypePolicies},
	OriginalSourceIPs:           {"original_source_ips", TypeStringList},
	NumOriginalSourceIPs:        {"num_original_source_ips", TypeInt},
	NatOutgoingPorts:            {"nat_outgoing_ports", TypeIntList},
	ProcessName:                 {"process_name", TypeString},
	ProcessID:                   {"process_id", TypeString},
	NumProcessNames:             {"num_process_names", TypeInt},
	NumProcessIDs:               {"num_process_ids", TypeInt},
	ProcessArgs:                 {"process_args", TypeStringList},
	NumProcessArgs:              {"num_process_args", TypeInt},
	HTTPRequestsAllowedIn:       {"http_requests_allowed_in", TypeInt},
	HTTPRequestsDeniedIn:        {"http_requests_denied_in", TypeInt},
	Host:                        {"host", TypeString},
	TCPMeanSendCongestionWindow: {"tcp_mean_send_congestion_window", TypeInt},
	TCPMinSendCongestionWindow:  {"tcp_min_send_congestion_window", TypeInt},
	TCPMeanSmoothRTT:            {"tcp_mean_smooth_rtt", TypeInt},
	TCPMaxSmoothRTT:             {"tcp_max_smooth_rtt", TypeInt},
	TCPMeanMinRTT:               {"tcp_mean_min_rtt", TypeInt},
	TCPMaxMinRTT:                {"tcp_max_min_rtt", TypeInt},
	TCPMeanMSS:                  {"tcp_mean_mss", TypeInt},
	TCPMinMSS:                   {"tcp_min_mss", TypeInt},
	TCPTotalRetransmissions:     {"tcp_total_retransmissions", TypeInt},
	TCPLostPackets:              {"tcp_lost_packets", TypeInt},
	TCPUnrecoveredTo:            {"tcp_unrecovered_to", TypeInt},
	TransitBytesIn:              {"transit_bytes_in", TypeInt},
	TransitBytesOut:             {"transit_bytes_out", TypeInt},
	TransitPacketsIn:            {"transit_packets_in", TypeInt},
	TransitPacketsOut:           {"transit_packets_out", TypeInt},
}

var fieldsByName = func() map[string]Field {
	m := make(map[string]Field, NumFields)
	for i := range fields {
		m[fields[i].name] = Field(i)
	}
	return m
}()

// FieldByName resolves a Calico JSON field name. It is for compile time;
// the hot path works with Field values.
func FieldByName(name string) (Field, bool) {
	f, ok := fieldsByName[name]
	return f, ok
}

// String returns the Calico JSON name of the field.
func (f Field) String() string {
	if f < NumFields {
		return fields[f].name
	}
	return "unknown"
}

// Type returns the type Calico declares for the field.
func (f Field) Type() Type { return fields[f].typ }

// Value is one field of one record.
//
// Str holds the decoded string for KindString. For every other kind it holds
// the JSON text exactly as written ("1.0", "true", `{"labels":["a=b"]}`), so
// a record re-encodes as written and fluentd's to_s rendering can be derived
// from it. For text records Str holds the column (or, for proto, the
// protocol name) and numbers are written as JSON numbers.
//
// Strings point into the decoded input (or the Flow's scratch buffer) and
// are valid only until the Flow is decoded into again.
type Value struct {
	Str   string
	Int   int64 // the number when Kind == KindNumber and IsInt
	Kind  Kind
	IsInt bool // Kind == KindNumber and Str is an integer that fits int64
}

// Label is one key=value pair of a labels field.
type Label struct {
	Key, Value string
}

// Member is a field the model does not know, kept so that nothing in a
// record is lost and rules can still address it by key.
type Member struct {
	Key   string
	Value Value
}

// Format is the wire form a record was decoded from.
type Format uint8

const (
	FormatText Format = iota + 1
	FormatJSON
)

// Flow is one decoded flow-log record. The zero value is empty and ready for
// Decode; a Flow is reused across records to avoid allocation, so nothing
// in it may be retained after the next Decode.
type Flow struct {
	vals      [NumFields]Value
	srcIP     netip.Addr // parsed SourceIP, Unmap'ed; invalid when absent or unparsable
	dstIP     netip.Addr
	srcLabels []Label
	dstLabels []Label
	extra     []Member
	// extraIdx finds an extra member by key in a record of many (see
	// setExtra); it is built only for those.
	extraIdx extraIndex
	scratch  []byte // backing store for unescaped strings
	format   Format

	// order lists a JSON record's members as written, so AppendJSON writes
	// them back in the same order: a Field, or NumFields+i for extra[i].
	order []uint32
	// alias marks StartTime/EndTime read from felix's camelCase spelling
	// (startTime/endTime), so they are written back under that name.
	alias uint8
	// set has bit id set for every vals[id] written since Reset, so Reset
	// clears only those instead of the whole array.
	set uint64
	// pending has bit id set for a field whose Str is rendered on first
	// use: a text record's labels, whose JSON form most records never need
	// (the rules match the parsed pairs; AppendJSON writes them directly).
	pending uint64
	// pred[p] is 1 + the field that followed field p-1 (p == 0: the first
	// member) in the last JSON record, 0 when unknown. DecodeJSON checks
	// it before hashing a member name. It survives Reset on purpose.
	pred [NumFields + 1]uint8
}

// Field IDs must fit the set mask.
var _ [64 - NumFields]struct{}

func (f *Flow) put(id Field, v Value) {
	f.vals[id] = v
	f.set |= 1 << id
}

// Reset empties f, keeping its buffers for reuse.
func (f *Flow) Reset() {
	if bits.OnesCount64(f.set) > 12 {
		f.vals = [NumFields]Value{} // one memclr beats many small stores
	} else {
		for m := f.set; m != 0; m &= m - 1 {
			f.vals[bits.TrailingZeros64(m)] = Value{}
		}
	}
	f.set, f.pending = 0, 0
	f.srcIP, f.dstIP = netip.Addr{}, netip.Addr{}
	f.srcLabels = f.srcLabels[:0]
	f.dstLabels = f.dstLabels[:0]
	f.resetExtra()
	f.scratch = f.scratch[:0]
	f.format = 0
	f.order = f.order[:0]
	f.alias = 0
}

// Format reports which wire form f was decoded from.
func (f *Flow) Format() Format { return f.format }

// Get returns the value of a known field; Kind is KindAbsent when the record
// lacks it. The pointer is for reading: change a field with Set.
func (f *Flow) Get(id Field) *Value {
	if f.pending>>id&1 != 0 {
		f.render(id)
	}
	return &f.vals[id]
}

// render writes the JSON text of a pending labels field.
func (f *Flow) render(id Field) {
	f.pending &^= 1 << id
	start := len(f.scratch)
	f.scratch = appendLabelsJSON(f.scratch, f.Labels(id))
	f.vals[id].Str = bstr(f.scratch[start:])
}

// Addr returns the parsed address of SourceIP or DestIP. ok is false when
// the field is absent, null, or not an address.
func (f *Flow) Addr(id Field) (a netip.Addr, ok bool) {
	switch id {
	case SourceIP:
		a = f.srcIP
	case DestIP:
		a = f.dstIP
	}
	return a, a.IsValid()
}

// Labels returns the parsed key=value pairs of SourceLabels or DestLabels.
func (f *Flow) Labels(id Field) []Label {
	switch id {
	case SourceLabels:
		return f.srcLabels
	case DestLabels:
		return f.dstLabels
	}
	return nil
}

// Label looks a label up by key in SourceLabels or DestLabels.
func (f *Flow) Label(id Field, key string) (string, bool) {
	for _, l := range f.Labels(id) {
		if l.Key == key {
			return l.Value, true
		}
	}
	return "", false
}

// Extra returns the fields the model does not know, in record order.
func (f *Flow) Extra() []Member { return f.extra }

// Lookup finds a field by JSON key: a known field or an extra member. It is
// linear in the number of extras (a map lookup in a record of many);
// compiled rules use Get for known fields.
//
// felix's camelCase startTime/endTime find StartTime/EndTime only in a
// record that spelled them that way (see DecodeJSON).
func (f *Flow) Lookup(key string) (Value, bool) {
	if e, ok := lookupKey(key); ok {
		if (e.alias != 0) == (f.alias&bitFor(e.field) != 0) {
			v := *f.Get(e.field)
			return v, v.Kind != KindAbsent
		}
		// The other spelling holds the field; this one may be an extra.
	}
	if f.extraIdx.n > 0 {
		if i, ok := f.extraIdx.find(f.extra, key); ok {
			return f.extra[i].Value, true
		}
		return Value{}, false
	}
	for i := range f.extra {
		if f.extra[i].Key == key {
			return f.extra[i].Value, true
		}
	}
	return Value{}, false
}
