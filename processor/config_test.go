package processor

import (
	"errors"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

func TestConfigValidate(t *testing.T) {
	rulesFn := func() *rules.Set { return nil }
	ok := Config{Brokers: []string{"b:9092"}, Topics: []string{"in"}, Group: "g",
		KeptTopic: "k", ThreatsTopic: "t", InvalidTopic: "i", Rules: rulesFn}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"copy needs no rules", func(c *Config) { c.Copy, c.Rules, c.ThreatsTopic, c.InvalidTopic = true, nil, "", "" }, ""},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "no brokers"},
		{"both inputs", func(c *Config) { c.TopicRegex = "x" }, "not both"},
		{"bad regex", func(c *Config) { c.Topics, c.TopicRegex = nil, "(" }, "topic regex"},
		{"no rules", func(c *Config) { c.Rules = nil }, "no rules"},
		{"compression", func(c *Config) { c.Compression = "brotli" }, `unknown compression "brotli"`},
		{"outputs", func(c *Config) { c.InvalidTopic = "" }, "output topics missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			c.setDefaults()
			err := c.validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReasonClass(t *testing.T) {
	var f codec.Flow
	for _, tc := range []struct {
		in, want string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{`{"a":`, "json"},
		{"garbage here", "text_startTime"},
		{"1528842551 1528842851 wep dev rails-81531* - wep dev memcached-38456* - - - 6 - 3000 7 3 4 out 154 61 70111 49404", "text_action"},
		{strings.Repeat("x", 1<<20+1), "limit_record_bytes"},
		{`{"a":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`, "limit_depth"},
		{`{"a":0` + strings.Repeat(`,"a":0`, 1000) + `}`, "limit_members"},
	} {
		err := codec.Decode([]byte(tc.in), &f)
		if err == nil {
			t.Fatalf("%q decoded", tc.in)
		}
		if got := reasonClass(err); got != tc.want {
			t.Errorf("reasonClass(%q: %v) = %q, want %q", tc.in, err, got, tc.want)
		}
	}
	if got := reasonClass(errors.New("x")); got != "other" {
		t.Errorf("reasonClass(other error) = %q", got)
	}
}
