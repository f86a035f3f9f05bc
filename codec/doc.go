// Package codec owns the Calico flow-log model: the Flow type, its field
// names (Calico's JSON names), and the parsers and encoder for the two wire
// forms felix writes (space-delimited text and one JSON object per line).
//
// # Fields
//
// The set of fields and their types follow felix's JSON serializer
// (felix/collector/flowlog/json_serializer.go, JSONOutput) and the columns
// of the documented text format. Rules address fields by these names; the
// names are resolved to a Field once, when rules are compiled, so judging a
// flow never touches a map.
//
//	field                                   Calico type               text column
//	start_time, end_time                    integer (Unix seconds)    startTime, endTime
//	source_type, dest_type                  string: wep hep ns net    srcType, dstType
//	source_namespace, dest_namespace        string, "-" if none       srcNamespace, dstNamespace
//	source_name, dest_name                  string, "-" if aggregated srcName, dstName (no trailing *)
//	source_name_aggr, dest_name_aggr        string: prefix-*, pub/pvt srcName, dstName (as written)
//	source_labels, dest_labels              {"labels":["k=v",...]}    srcLabels, dstLabels
//	source_ip, dest_ip                      string (IP) or null       srcIP, dstIP
//	source_port, dest_port                  integer or null           srcPort, dstPort
//	dest_service_namespace, _name, _port    string ("-" if none)      -
//	dest_service_port_num                   integer or null           -
//	dest_domains                            array of strings or null  -
//	proto                                   string: tcp udp icmp ...  proto (number or name)
//	num_flows, num_flows_started, _completed integer                  numFlows, numFlowsStarted, numFlowsCompleted
//	reporter                                string: src dst           reporter
//	packets_in, packets_out                 integer                   packetsIn, packetsOut
//	bytes_in, bytes_out                     integer                   bytesIn, bytesOut
//	action                                  string: allow deny        action
//	policies                                {"all_policies":[...]} or enforced_/pending_/transit_policies
//	original_source_ips                     array of strings or null  -
//	num_original_source_ips                 integer                   -
//	nat_outgoing_ports                      array of integers or null -
//	process_name, process_id                string (process_id too)   -
//	num_process_names, num_process_ids      integer                   -
//	process_args                            array of strings          -
//	num_process_args                        integer                   -
//	http_requests_allowed_in, _denied_in    integer                   -
//	tcp_mean_send_congestion_window, tcp_min_send_congestion_window,
//	tcp_mean_smooth_rtt, tcp_max_smooth_rtt, tcp_mean_min_rtt,
//	tcp_max_min_rtt, tcp_mean_mss, tcp_min_mss, tcp_total_retransmissions,
//	tcp_lost_packets, tcp_unrecovered_to    integer                   -
//	transit_bytes_in/out, transit_packets_in/out  integer (newer felix) -
//	host                                    string (added by fluentd) -
//
// Field.Type gives the declared type; a record may still hold any JSON type
// under any name (Value.Kind says which), and members the model does not
// know are kept in Flow.Extra.
//
// # Values
//
// A Value keeps the JSON kind as written and, for every kind but string,
// the JSON text as written (Str "1.0" stays "1.0"); integers that fit int64
// also have Int and IsInt. Typed views: Flow.Addr parses source_ip/dest_ip
// (IPv4-mapped IPv6 unmapped), Flow.Labels splits the labels entries at the
// first '=', and proto keeps the name in Str (Kind string, as Calico's JSON
// writes it) with the IANA number in Int, for text and JSON records alike.
//
// # Lifetime
//
// Decoding does not copy: strings in a Flow point into the decoded input,
// or into the Flow's scratch buffer for JSON strings with escapes. They are
// valid until the input bytes are modified or the Flow is decoded into
// again. A Flow is meant to be reused, one per goroutine; decoding a text
// record into a reused Flow does not allocate, nor does a JSON record once
// the Flow's buffers have grown to the record's size (an IPv6 address
// with a zone, fe80::1%eth0, is the exception: netip allocates its zone).
//
// # Text records
//
// 24 columns separated by runs of spaces or tabs, in the order of the
// product page (see TextColumnName); a CR or LF inside a record is part of
// a column, like any other control byte (blanks and CR LF at the ends are
// trimmed). "-" in any column means the field is absent. Numbers are
// signed 64-bit decimal integers; a longer one is "out of range". proto takes a number
// (0..255) or a name (tcp, udp, icmp, icmpv6/icmp6, sctp, ... any case).
// srcName/dstName fill source_name_aggr/dest_name_aggr as written (a
// trailing '*' kept, pub and pvt kept) and, without a trailing '*', also
// source_name/dest_name.
//
// A labels column holds no spaces; these forms are accepted:
//
//	app=web,tier=db           comma-separated key=value pairs
//	[app=web,tier=db]         the same in brackets
//	{app=web,tier=db}         the same in braces
//	["app=web","tier=db"]     quoted pairs
//	{"app":"web"}             quoted key:value pairs (compact JSON)
//	[] or {}                  present, no labels
//	-                         absent
//
// A pair without '=' (or ':') is a key with an empty value; keys cannot be
// empty or hold '=', and neither keys nor values can hold commas. The field
// is then Kind object with Str in Calico's shape, {"labels":["k=v",...]}.
// That Str is written on first use (Get, Lookup, Equal): most records are
// judged on the parsed pairs (Flow.Labels) and AppendJSON writes the pairs
// directly, so the rendering is skipped unless a rule asks for the text.
//
// Records as felix writes them (one space between columns, canonical
// numbers) take a fast path that finds column ends and parses numbers eight
// bytes at a time; any other record is decoded again by the general loop,
// which gives the same Flow and alone words the errors.
//
// A record with the wrong number of columns, a non-number in a number
// column, a bad address, proto or labels column, or invalid UTF-8 is a
// *SyntaxError naming the column and its byte offset.
//
// # JSON records
//
// Any JSON object is a record. See DecodeJSON for duplicate members (the
// last wins), felix's camelCase startTime/endTime (aliases of start_time and
// end_time, written back under the name they were read with) and what is
// invalid.
//
// Records as felix writes them (compact, ASCII strings without escapes,
// integers, each known field once) take a fast path that works on local
// variables, checks the member name the previous record had next with a
// few word compares and parses numbers eight bytes at a time; any other
// record, and any record near a limit, is decoded again by the general
// decoder, which gives the same Flow and alone words the errors.
//
// # Kept records: projection and sampling
//
// Output.Append writes a kept record: as it came, or as JSON with only the
// members a Projection selects (NewProjection: a keep list or a remove
// list, members nested in objects included). A sampled flow (Scale: kept
// with probability Rate) has its counters, ScaledFields, multiplied by
// 1/Rate in the record's own form: a text record's columns, a JSON
// record's members, every other byte as it came, plus a
// flowsieve_sample_rate member in JSON. Rounding to whole numbers is
// dithered (Scale.Dither) so sums stay exact in expectation. Writing into
// a buffer with room allocates nothing.
package codec
