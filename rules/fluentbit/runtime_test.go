package fluentbit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Records of fluent-bit tests/runtime/filter_grep.c.
func valRecords() [][]byte {
	var out [][]byte
	for i := 0; i < 256; i++ {
		out = append(out, fmt.Appendf(nil, `{"val": "%d","END_KEY": "JSON_END"}`, i*i))
	}
	return out
}

// logRecords alternates "Using deprecated option" (even indexes) and
// "Using option" (odd), 256 of each, as the multi_* and AND/OR tests push.
func logRecords() [][]byte {
	var out [][]byte
	for i := 0; i < 256; i++ {
		out = append(out,
			fmt.Appendf(nil, `{"val": "%d","log": "Using deprecated option"}`, i*i),
			fmt.Appendf(nil, `{"val": "%d","log": "Using option"}`, i*i))
	}
	return out
}

func issue5209Records() [][]byte {
	var out [][]byte
	for i := 0; i < 256; i++ {
		out = append(out,
			fmt.Appendf(nil, `{"val": "%d","END_KEY": "JSON_END"}`, i*i),
			fmt.Appendf(nil, `{"val": "%d","log": "Using deprecated option"}`, i*i))
	}
	return out
}

var (
	even = func(i int) bool { return i%2 == 0 }
	odd  = func(i int) bool { return i%2 == 1 }
	all  = func(int) bool { return true }
	// valHas1 is whether record i of valRecords has a "1" in its value,
	// worked out without a regex engine.
	valHas1 = func(i int) bool { return strings.Contains(strconv.Itoa(i*i), "1") }
)

type formName string

const (
	classic  formName = "classic"
	operator formName = "operator"
	yamlConf formName = "yaml-config"
)

var forms = []formName{classic, operator, yamlConf}

func render(form formName, filters ...[]prop) string {
	switch form {
	case classic:
		return classicText(filters...)
	case operator:
		return operatorText(filters...)
	default:
		return yamlConfigText(filters...)
	}
}

// TestFluentBitRuntime re-expresses every case of Fluent Bit's own
// tests/runtime/filter_grep.c (input tag "test", filter match "*"), and
// cases for the pitfalls the issue names, in the three text forms. Each
// case goes through Import, the rule file it writes, rules.Load and
// Set.Judge on records decoded by the codec. Where Fluent Bit's test
// asserts a count, wantKept is that count; the per-record expectation is
// worked out without a regex engine.
func TestFluentBitRuntime(t *testing.T) {
	for _, tc := range []struct {
		name     string
		filters  [][]prop
		records  [][]byte
		want     func(int) bool              // kept records, every form
		perForm  map[formName]func(int) bool // overrides want for some forms
		wantKept int                         // the count Fluent Bit's test asserts, -1 if none
		err      string                      // a configuration Fluent Bit refuses
		errForms []formName                  // the forms err is for, when not all
		tag      string                      // the records\' tag, "test" (as in Fluent Bit\'s tests) when empty
	}{
		{name: "regex", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Regex", "val 1"}}},
			records: valRecords(), want: valHas1, wantKept: -1},
		{name: "exclude", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Exclude", "val 1"}}},
			records: valRecords(), want: func(i int) bool { return !valHas1(i) }, wantKept: -1},
		{name: "invalid", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Regex", "val"}, {"Exclude", "val"}}},
			err: "invalid regex, expected field and regular expression"},
		{name: "multi_regex", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Regex", "log deprecated"}, {"Regex", "log option"}}},
			records: logRecords(), want: even, wantKept: 256},
		{name: "multi_exclude", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Exclude", "log deprecated"}, {"Exclude", "log hoge"}}},
			records: logRecords(), want: odd, wantKept: 256},
		{name: "unknown_property", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"UNKNOWN_PROPERTY", "aaaaaa"}}},
			err: "unknown configuration property"},
		{name: "AND_regex", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Regex", "log deprecated"}, {"Regex", "log option"}, {"Logical_Op", "AND"}}},
			records: logRecords(), want: even, wantKept: 256},
		{name: "OR_regex", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Regex", "log deprecated"}, {"Regex", "log option"}, {"Logical_Op", "OR"}}},
			records: logRecords(), want: all, wantKept: 512},
		{name: "AND_exclude", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Exclude", "log deprecated"}, {"Exclude", "log option"}, {"Logical_Op", "AND"}}},
			records: logRecords(), want: odd, wantKept: 256},
		{name: "OR_exclude", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Exclude", "log deprecated"}, {"Exclude", "log other"}, {"Logical_Op", "OR"}}},
			records: logRecords(), want: odd, wantKept: 256},
		{name: "error_OR_regex_exclude", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Regex", "val 1"}, {"Exclude", "val2 3"}, {"Logical_Op", "OR"}}},
			err: "Both 'regex' and 'exclude' are set"},
		{name: "error_AND_regex_exclude", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Regex", "val 1"}, {"Exclude", "val2 3"}, {"Logical_Op", "AND"}}},
			err: "Both 'regex' and 'exclude' are set"},
		{name: "issue_5209", filters: [][]prop{{{"Name", "grep"}, {"match", "*"}, {"Exclude", "log /Using deprecated option/"}}},
			records: issue5209Records(), want: even, wantKept: 256},

		// Pitfalls beyond Fluent Bit's own tests.
		{name: "legacy first regex decides; the operator sorts excludes first",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"regex", "log option"}, {"exclude", "log deprecated"}}},
			records: logRecords(), want: all, perForm: map[formName]func(int) bool{operator: odd}, wantKept: -1},
		{name: "only strings match",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"regex", "n ^1"}}},
			records: [][]byte{[]byte(`{"n": 1}`), []byte(`{"n": "1"}`), []byte(`{"n": 1.5}`), []byte(`{"n": true}`),
				[]byte(`{"n": null}`), []byte(`{}`), []byte(`{"n": ["1"]}`), []byte(`{"n": {"x": "1"}}`)},
			want: func(i int) bool { return i == 1 }, wantKept: -1},
		{name: "only strings are excluded",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"exclude", "n ^1"}}},
			records: [][]byte{[]byte(`{"n": 1}`), []byte(`{"n": "1"}`), []byte(`{"n": 1.5}`), []byte(`{"n": null}`), []byte(`{}`)},
			want:    func(i int) bool { return i != 1 }, wantKept: -1},
		{name: "accessor cut at the first dot",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"regex", "$a.b ^x"}}},
			records: [][]byte{[]byte(`{"a": "xyz"}`), []byte(`{"a": {"b": "x"}}`), []byte(`{"a.b": "x"}`)},
			want:    func(i int) bool { return i == 0 }, wantKept: -1},
		{name: "subkeys ignored on a string",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"regex", "$a['b'][0] ^x$"}}},
			records: [][]byte{[]byte(`{"a": {"b": ["x", "y"]}}`), []byte(`{"a": "x"}`), []byte(`{"a": ["x"]}`),
				[]byte(`{"a": {"b": {"c": "x"}}}`), []byte(`{"a": {"c": ["x"]}}`), []byte(`{"a": {"b": "x"}}`)},
			// Record 5 meets a string one step early: Fluent Bit does not
			// match it.
			want: func(i int) bool { return i <= 1 }, wantKept: -1},
		{name: "three subkeys",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"exclude", "$a['b']['c'][0] ^x"}}},
			records: [][]byte{[]byte(`{"a": {"b": "x"}}`), []byte(`{"a": {"b": {"c": "x"}}}`), []byte(`{"a": {"b": {"c": ["x"]}}}`),
				[]byte(`{"a": "x"}`), []byte(`{"a": {"b": {"c": ["y", "x"]}}}`), []byte(`{"a": {"b": {"c": [1]}}}`)},
			want: func(i int) bool { return i != 2 && i != 3 }, wantKept: -1},
		{name: "of duplicate keys the last counts",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"exclude", "source_namespace ^dev$"}, {"exclude", "foo ^dev$"}}},
			records: [][]byte{[]byte(`{"source_namespace":"dev","source_namespace":"prod"}`), []byte(`{"source_namespace":"prod","source_namespace":"dev"}`),
				[]byte(`{"foo":"dev","foo":"prod"}`), []byte(`{"foo":"prod","foo":"dev"}`)},
			want: func(i int) bool { return i%2 == 0 }, wantKept: -1},
		{name: "slashes and flags",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"regex", "log /USING\\s+DEPRECATED/i"}}},
			records: logRecords(), want: even, wantKept: -1},
		{name: "slash tail that is not flags is literal",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"exclude", "log /option/g"}}},
			records: append(logRecords()[:2], []byte(`{"log": "a /option/g b"}`)),
			want:    func(i int) bool { return i < 2 }, wantKept: -1},
		{name: "line anchors",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"regex", "log ^b$"}}},
			records: [][]byte{[]byte(`{"log": "a\nb\nc"}`), []byte(`{"log": "ab"}`)},
			want:    func(i int) bool { return i == 0 }, wantKept: -1},
		{name: "two filters in sequence",
			filters: [][]prop{
				{{"name", "grep"}, {"match", "*"}, {"exclude", "log deprecated"}},
				{{"name", "grep"}, {"match", "*"}, {"regex", "val ^1"}},
			},
			records: logRecords(), want: func(i int) bool { return odd(i) && strings.HasPrefix(strconv.Itoa((i/2)*(i/2)), "1") }, wantKept: -1},
		{name: "a filter for another tag imports as nothing",
			filters: [][]prop{{{"name", "grep"}, {"match", "dns"}, {"exclude", "log deprecated"}}},
			records: logRecords(), want: all, wantKept: 512},
		{name: "logical_op AND with no rule",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"logical_op", "AND"}}},
			err:     "behaviour is undefined"},
		{name: "no match; the operator adds one",
			filters: [][]prop{{{"name", "grep"}, {"exclude", "log deprecated"}}},
			err:     "NO match rule", errForms: []formName{classic, yamlConf},
			records: logRecords(), want: odd, wantKept: 256, tag: "flows"},
		{name: "logical_op twice",
			filters: [][]prop{{{"name", "grep"}, {"match", "*"}, {"exclude", "log x"}, {"logical_op", "AND"}, {"logical_op", "OR"}}},
			err:     "'logical_op' is set 2 times"},
	} {
		for _, form := range forms {
			t.Run(tc.name+"/"+string(form), func(t *testing.T) {
				text := render(form, tc.filters...)
				opt := Options{Tag: "test"}
				if tc.tag != "" {
					opt.Tag = tc.tag
				}
				if tc.err != "" && (tc.errForms == nil || slices.Contains(tc.errForms, form)) {
					_, err := Import("filters", []byte(text), opt)
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("error %v, want one containing %q\ninput:\n%s", err, tc.err, text)
					}
					return
				}
				res, set := load(t, "filters", text, opt)
				want := tc.want
				if w := tc.perForm[form]; w != nil {
					want = w
				}
				kept, _ := judge(t, set, tc.records)
				keptSet := map[int]bool{}
				for _, i := range kept {
					keptSet[i] = true
				}
				for i, r := range tc.records {
					if keptSet[i] != want(i) {
						t.Errorf("record %d %s: kept %v, want %v", i, r, keptSet[i], want(i))
					}
					if ref := refKeep(t, res.Greps, r); ref != want(i) {
						t.Errorf("record %d %s: the reference model of grep.c keeps %v, want %v", i, r, ref, want(i))
					}
				}
				if tc.wantKept >= 0 && len(kept) != tc.wantKept {
					t.Errorf("kept %d records, Fluent Bit's test expects %d", len(kept), tc.wantKept)
				}
			})
		}
	}
}
