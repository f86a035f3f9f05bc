package fluentd

import (
	"strings"
	"testing"
)

func TestFilterTagPatterns(t *testing.T) {
	tests := []struct {
		pattern, tag string
		want         bool
	}{
		{"flows", "flows", true},
		{"dns", "flows", false},
		{"**", "flows", true},
		{"", "flows", true},
		{"*", "flows", true},
		{"flow*", "flows", true},
		{"*.flows", "flows", false},
		{"**.flows", "flows", true}, // ** also matches zero parts
		{"a.**", "a", true},
		{"a.**", "ab", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.**", "a.b.c", true},
		{"{dns,flows}", "flows", true},
		{"{dns,flow}", "flows", false},
		{"dns flows", "flows", true}, // several patterns: any
		{"/fl.ws/", "flows", true},
		{"/fl/", "flows", false},
		{`fl\ows`, "flows", true},
	}
	for _, tc := range tests {
		got, err := filterApplies(tc.pattern, tc.tag)
		if err != nil || got != tc.want {
			t.Errorf("<filter %s> on tag %s: %v (%v), want %v", tc.pattern, tc.tag, got, err, tc.want)
		}
	}
	// The DNS filters of Calico's docs do not apply to flow logs.
	dns := []byte("<filter dns>\n @type grep\n <exclude>\n  key qname\n  pattern /\\.cluster\\.local$/\n </exclude>\n</filter>\n")
	res, err := Import(dns, "flow")
	if err != nil || res.Filters != 0 || !strings.Contains(string(res.YAML), `does not apply to tag "flows"`) {
		t.Errorf("dns filter for flows: %v %+v", err, res)
	}
	res, err = ImportWith(dns, "dns", Options{Tag: "dns"})
	if err != nil || res.Filters != 1 {
		t.Errorf("dns filter for dns: %v %+v", err, res)
	}
}
