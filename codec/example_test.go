package codec_test

import (
	"fmt"

	"github.com/flowsieve/flowsieve/codec"
)

func ExampleDecode() {
	var f codec.Flow // reuse one Flow per goroutine
	for _, rec := range []string{
		"1528842551 1528842851 wep dev rails-81531* - wep dev memcached-38456* - - - 6 - 3000 7 3 4 out 154 61 70111 49404 allow",
		`{"source_namespace":"default","dest_ip":"198.51.100.7","dest_port":443,"proto":"tcp","action":"deny","x":1.0}`,
	} {
		if err := codec.Decode([]byte(rec), &f); err != nil {
			fmt.Println("invalid:", err)
			continue
		}
		dst, _ := f.Addr(codec.DestIP)
		fmt.Println(f.Get(codec.SourceNamespace).Str, f.Get(codec.Proto).Str, f.Get(codec.Proto).Int, f.Get(codec.DestPort).Int, dst.IsValid())
		fmt.Println(string(codec.AppendJSON(nil, &f)))
	}
	// Output:
	// dev tcp 6 3000 false
	// {"start_time":1528842551,"end_time":1528842851,"source_name_aggr":"rails-81531*","source_namespace":"dev","source_type":"wep","dest_name_aggr":"memcached-38456*","dest_namespace":"dev","dest_port":3000,"dest_type":"wep","proto":"tcp","action":"allow","reporter":"out","bytes_in":70111,"bytes_out":49404,"num_flows":7,"num_flows_started":3,"num_flows_completed":4,"packets_in":154,"packets_out":61}
	// default tcp 6 443 true
	// {"source_namespace":"default","dest_ip":"198.51.100.7","dest_port":443,"proto":"tcp","action":"deny","x":1.0}
}

func ExampleSyntaxError() {
	var f codec.Flow
	err := codec.Decode([]byte("1528842551 1528842851 wep dev rails-81531* - wep dev memcached-38456* - 10.0.0.300 - 6 - 3000 7 3 4 out 154 61 70111 49404 allow"), &f)
	fmt.Println(err)
	// Output:
	// text record: column 11 (srcIP) at byte 72: not an IP address: "10.0.0.300"
}
