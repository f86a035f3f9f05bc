package codec

import (
	"strings"
	"testing"
)

func TestJSONText(t *testing.T) {
	obj := `{ "a" : [1, {"b":"c\u00e9"}, [true,null], -2.5e3 ], "k\u0065y":"v\"w", "a":{"dup":1}, "e":{}, "l":[] }`
	for _, tc := range []struct{ key, want string }{
		{"a", `{"dup":1}`}, // the last of duplicate keys
		{"key", `"v\"w"`},  // an escaped name
		{"e", `{}`},
		{"l", `[]`},
	} {
		if got, ok := JSONMember(obj, tc.key); !ok || got != tc.want {
			t.Errorf("JSONMember(%s) = %q, %v; want %q", tc.key, got, ok, tc.want)
		}
	}
	if _, ok := JSONMember(obj, "missing"); ok {
		t.Error("JSONMember found a missing key")
	}
	arr := `[1, {"b":"c\u00e9"}, [true,null], -2.5e3 ]`
	for idx, want := range map[int]string{0: "1", 1: `{"b":"c\u00e9"}`, 2: "[true,null]", 3: "-2.5e3", -1: "-2.5e3", -4: "1"} {
		if got, ok := JSONElement(arr, idx); !ok || got != want {
			t.Errorf("JSONElement(%d) = %q, %v; want %q", idx, got, ok, want)
		}
	}
	for _, idx := range []int{4, -5} {
		if got, ok := JSONElement(arr, idx); ok {
			t.Errorf("JSONElement(%d) = %q, want none", idx, got)
		}
	}

	var buf []byte
	for text, want := range map[string]Value{
		`"plain"`:          {Str: "plain", Kind: KindString},
		`"c\u00e9"`:        {Str: "cé", Kind: KindString},
		`"\ud83d\ude00\n"`: {Str: "😀\n", Kind: KindString},
		`-2.5e3`:           {Str: "-2.5e3", Kind: KindNumber},
		`true`:             {Str: "true", Kind: KindBool},
		`null`:             {Str: "null", Kind: KindNull},
		`[1]`:              {Str: "[1]", Kind: KindArray},
		`{}`:               {Str: "{}", Kind: KindObject},
		``:                 {Kind: KindAbsent},
	} {
		if got := ValueOfJSON(text, &buf); got != want {
			t.Errorf("ValueOfJSON(%s) = %+v, want %+v", text, got, want)
		}
	}

	var scalars []string
	sc := ScanJSONScalars(obj)
	for {
		s, ok := sc.Next(&buf)
		if !ok {
			break
		}
		scalars = append(scalars, strings.Clone(s)) // s may live in buf until the next call
	}
	if got, want := strings.Join(scalars, "|"), `1|cé|true|-2.5e3|v"w|1`; got != want {
		t.Errorf("scalars = %s, want %s", got, want)
	}

	var toks []string
	for i := 0; ; {
		tok, next := NextJSONToken(`{"a" : [1,-2.5e3, "x\"y"], "b":null}`, i)
		if tok == "" {
			break
		}
		toks, i = append(toks, tok), next
	}
	if got, want := strings.Join(toks, " "), `{ "a" : [ 1 , -2.5e3 , "x\"y" ] , "b" : null }`; got != want {
		t.Errorf("tokens = %s, want %s", got, want)
	}
}

// Walking the text allocates nothing, escaped names and strings included.
func TestJSONTextDoesNotAllocate(t *testing.T) {
	obj := `{"labels":["app=x","k\u0065y=v"],"n\u0061me":"c\u00e9"}`
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		v, _ := JSONMember(obj, "name")
		ValueOfJSON(v, &buf)
		e, _ := JSONMember(obj, "labels")
		if _, ok := JSONElement(e, -1); !ok {
			t.Fatal("no last label")
		}
		sc := ScanJSONScalars(obj)
		for _, ok := sc.Next(&buf); ok; _, ok = sc.Next(&buf) {
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per walk", allocs)
	}
}
