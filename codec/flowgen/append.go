package flowgen

import (
	"net/netip"
	"strconv"

	"github.com/flowsieve/flowsieve/codec"
)

func appendCol(dst []byte, s string) []byte {
	if s == "" {
		s = "-"
	}
	dst = append(dst, s...)
	return append(dst, ' ')
}

func appendIntCol(dst []byte, n int) []byte {
	if n < 0 {
		return append(dst, '-', ' ')
	}
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, ' ')
}

func appendAddrCol(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(dst, '-', ' ')
	}
	dst = a.AppendTo(dst)
	return append(dst, ' ')
}

// appendLabelsCol writes labels in the bracketed text form, "-" for none.
func appendLabelsCol(dst []byte, l [2]string, on bool) []byte {
	if l[0] == "" || !on {
		return append(dst, '-', ' ')
	}
	dst = append(dst, '[')
	dst = append(dst, l[0]...)
	if l[1] != "" {
		dst = append(dst, ',')
		dst = append(dst, l[1]...)
	}
	return append(dst, ']', ' ')
}

// nameCol is what the text srcName/dstName column shows: the full name
// when there is one, else the aggregated prefix.
func nameCol(name, aggr string) string {
	if name != "" {
		return name
	}
	return aggr
}

func (r *record) appendText(dst []byte) []byte {
	dst = appendIntCol(dst, int(r.start))
	dst = appendIntCol(dst, int(r.end))
	dst = appendCol(dst, r.srcType)
	dst = appendCol(dst, r.srcNS)
	dst = appendCol(dst, nameCol(r.srcName, r.srcAggr))
	dst = appendLabelsCol(dst, r.srcLabels, r.textLabels)
	dst = appendCol(dst, r.dstType)
	dst = appendCol(dst, r.dstNS)
	dst = appendCol(dst, nameCol(r.dstName, r.dstAggr))
	dst = appendLabelsCol(dst, r.dstLabels, r.textLabels)
	dst = appendAddrCol(dst, r.srcIP)
	dst = appendAddrCol(dst, r.dstIP)
	dst = appendIntCol(dst, r.proto)
	dst = appendIntCol(dst, r.srcPort)
	dst = appendIntCol(dst, r.dstPort)
	dst = appendIntCol(dst, r.flows)
	dst = appendIntCol(dst, r.started)
	dst = appendIntCol(dst, r.completed)
	dst = appendCol(dst, r.reporter)
	dst = appendIntCol(dst, r.pktIn)
	dst = appendIntCol(dst, r.pktOut)
	dst = appendIntCol(dst, r.bytIn)
	dst = appendIntCol(dst, r.bytOut)
	return append(dst, r.action...)
}

func appendKey(dst []byte, k string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

func appendStr(dst []byte, k, v string) []byte {
	if v == "" {
		v = "-"
	}
	dst = appendKey(dst, k)
	dst = append(dst, '"')
	dst = append(dst, v...) // generated strings need no escaping
	return append(dst, '"')
}

func appendNum(dst []byte, k string, n int) []byte {
	dst = appendKey(dst, k)
	if n < 0 {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, int64(n), 10)
}

func appendAddr(dst []byte, k string, a netip.Addr) []byte {
	dst = appendKey(dst, k)
	if !a.IsValid() {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}

func appendLabels(dst []byte, k string, l [2]string) []byte {
	dst = appendKey(dst, k)
	dst = append(dst, `{"labels":[`...)
	for i, s := range l {
		if s == "" {
			continue
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, s...)
		dst = append(dst, '"')
	}
	return append(dst, "]}"...)
}

// appendJSON writes the record as felix's JSONOutput does (member order,
// "-" for missing strings, null for missing addresses and ports).
func (r *record) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"start_time":`...)
	dst = strconv.AppendInt(dst, r.start, 10)
	dst = appendNum(dst, "end_time", int(r.end))
	dst = appendAddr(dst, "source_ip", r.srcIP)
	dst = appendStr(dst, "source_name", r.srcName)
	dst = appendStr(dst, "source_name_aggr", r.srcAggr)
	dst = appendStr(dst, "source_namespace", r.srcNS)
	dst = appendNum(dst, "source_port", r.srcPort)
	dst = appendStr(dst, "source_type", r.srcType)
	dst = appendLabels(dst, "source_labels", r.srcLabels)
	dst = appendAddr(dst, "dest_ip", r.dstIP)
	dst = appendStr(dst, "dest_name", r.dstName)
	dst = appendStr(dst, "dest_name_aggr", r.dstAggr)
	dst = appendStr(dst, "dest_namespace", r.dstNS)
	dst = appendNum(dst, "dest_port", r.dstPort)
	dst = appendStr(dst, "dest_type", r.dstType)
	dst = appendLabels(dst, "dest_labels", r.dstLabels)
	dst = appendStr(dst, "dest_service_namespace", r.svcNS)
	dst = appendStr(dst, "dest_service_name", r.svcName)
	dst = appendStr(dst, "dest_service_port", r.svcPort)
	if r.svcPortNum == 0 {
		dst = appendNum(dst, "dest_service_port_num", -1)
	} else {
		dst = appendNum(dst, "dest_service_port_num", r.svcPortNum)
	}
	dst = appendStr(dst, "proto", codec.ProtoName(int64(r.proto)))
	dst = appendStr(dst, "action", r.action)
	dst = appendStr(dst, "reporter", r.reporter)
	dst = appendKey(dst, "policies")
	dst = append(dst, `{"all_policies":["`...)
	dst = append(dst, r.policy...)
	dst = append(dst, `"]}`...)
	dst = appendNum(dst, "bytes_in", r.bytIn)
	dst = appendNum(dst, "bytes_out", r.bytOut)
	dst = appendNum(dst, "num_flows", r.flows)
	dst = appendNum(dst, "num_flows_started", r.started)
	dst = appendNum(dst, "num_flows_completed", r.completed)
	dst = appendNum(dst, "packets_in", r.pktIn)
	dst = appendNum(dst, "packets_out", r.pktOut)
	dst = appendNum(dst, "http_requests_allowed_in", 0)
	dst = appendNum(dst, "http_requests_denied_in", 0)
	dst = appendKey(dst, "original_source_ips")
	dst = append(dst, "null"...)
	dst = appendNum(dst, "num_original_source_ips", 0)
	return append(dst, '}')
}
