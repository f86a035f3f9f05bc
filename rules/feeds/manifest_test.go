package feeds

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseTigeraSample(t *testing.T) {
	data, err := os.ReadFile("testdata/tigera-sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ParseManifests(data, "sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("%d specs", len(specs))
	}
	s := specs[0]
	if s.Name != "sample-global-threat-feed" || s.Content != IPSet || s.Disabled || s.Period != 24*time.Hour ||
		s.URL != "https://an.example.threat.feed/deny-list" || s.Format.Kind != NewlineDelimited || s.Line != 3 ||
		s.Description != "This is the sample global threat feed" {
		t.Errorf("%+v", s)
	}
	if len(s.Headers) != 2 || s.Headers[0] != (Header{Name: "Accept", Value: "text/plain"}) ||
		*s.Headers[1].From != (KeyRef{Secret: true, Name: "globalthreatfeed-sample-global-threat-feed-example", Key: "apikey"}) {
		t.Errorf("headers %+v", s.Headers)
	}
}

func TestParseList(t *testing.T) {
	data, err := os.ReadFile("testdata/domains.yaml")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ParseManifests(data, "domains.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 3 {
		t.Fatalf("%d specs", len(specs))
	}
	d, c, off := specs[0], specs[1], specs[2]
	if d.Name != "bad-domains" || d.Content != DomainNameSet || d.Period != time.Hour || d.Format.Kind != JSON || d.Format.JSONPath != "$.domains" {
		t.Errorf("%+v", d)
	}
	if c.Period != DefaultPeriod || c.Format.Kind != CSV || c.Format.CSV != (CSVFormat{FieldNum: -1, FieldName: "ip", Header: true, Comma: ';', Comment: '#'}) {
		t.Errorf("%+v", c)
	}
	if !off.Disabled || off.URL != "" {
		t.Errorf("%+v", off)
	}
}

func TestParseManifestErrors(t *testing.T) {
	const head = "apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\nmetadata: {name: f}\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"no pull", head + "spec: {content: IPSet}\n", []string{
			`m.yaml:4:7: globalthreatfeed "f": missing spec.pull: flowsieve pulls feeds over HTTP; a push feed (written into Elasticsearch) cannot reach it`}},
		{"bad content and mode", head + "spec:\n  content: URLSet\n  mode: On\n  pull: {http: {url: 'http://x/'}}\n", []string{
			`m.yaml:5:12: globalthreatfeed "f": spec.content "URLSet" is not one of IPSet, DomainNameSet`,
			`m.yaml:6:9: globalthreatfeed "f": spec.mode "On" is not one of Enabled, Disabled`}},
		{"short period", head + "spec: {pull: {period: 1m, http: {url: 'http://x/'}}}\n", []string{
			`m.yaml:4:23: globalthreatfeed "f": spec.pull.period 1m is below 5m0s, the shortest Calico accepts`}},
		{"unknown field", head + "spec: {pull: {http: {url: 'http://x/', method: POST}}}\n", []string{
			`m.yaml:4:40: globalthreatfeed "f": unknown field "method" in spec.pull.http (want format, url, headers)`}},
		{"url scheme, query kept out", head + "spec: {pull: {http: {url: 'ftp://x/?key=TOPSECRET'}}}\n", []string{
			`m.yaml:4:27: globalthreatfeed "f": spec.pull.http.url: scheme "ftp" is not http or https`}},
		{"two formats", head + "spec: {pull: {http: {url: 'http://x/', format: {json: {path: $.a}, csv: {fieldNum: 0}}}}}\n", []string{
			`m.yaml:4:48: globalthreatfeed "f": spec.pull.http.format: give one of newlineDelimited, json and csv`}},
		{"csv fieldName without header", head + "spec: {pull: {http: {url: 'http://x/', format: {csv: {fieldName: ip}}}}}\n", []string{
			`m.yaml:4:66: globalthreatfeed "f": spec.pull.http.format.csv.fieldName needs header: true`}},
		{"json filter path", head + "spec: {pull: {http: {url: 'http://x/', format: {json: {path: '$.a[?(@.x)]'}}}}}\n", []string{
			`m.yaml:4:62: globalthreatfeed "f": spec.pull.http.format.json.path: [?(@.x)]: want [N], [*] or ["name"]; filters and slices are not supported`}},
		{"header value and valueFrom; secret not echoed", head + "spec: {pull: {http: {url: 'http://x/', headers: [{name: K, value: TOPSECRET, valueFrom: {secretKeyRef: {name: a, key: b}}}]}}}\n", []string{
			`m.yaml:4:50: globalthreatfeed "f": header K: give value or valueFrom, not both`}},
		{"bad name", "apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\nmetadata: {name: Bad_Name}\nspec: {}\n", []string{
			`m.yaml:3:18: metadata.name "Bad_Name": lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`}},
		{"wrong kind", "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: x}\n", []string{
			`m.yaml:2:7: kind "GlobalNetworkSet" is not GlobalThreatFeed (a rule file's globalthreatfeeds entry names a file of GlobalThreatFeed manifests)`}},
		{"duplicate", head + "spec: {mode: Disabled}\n---\n" + head + "spec: {mode: Disabled}\n", []string{
			`m.yaml:6: globalthreatfeed "f": a second feed of that name (first on line 1)`}},
		{"empty", "# nothing\n", []string{`m.yaml: no GlobalThreatFeed in the file`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifests([]byte(tc.yaml), "m.yaml")
			if err == nil {
				t.Fatal("parsed; want errors")
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Error("an error echoes a secret")
			}
		})
	}
}
