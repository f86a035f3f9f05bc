package feeds

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func domains(t testing.TB, names ...string) *DomainSet {
	t.Helper()
	tb, err := Build(context.Background(), strings.NewReader(strings.Join(names, "\n")), DomainNameSet, Format{}, false, "src", "d")
	if err != nil {
		t.Fatal(err)
	}
	return tb.Domains
}

func TestDomainSetMatch(t *testing.T) {
	d := domains(t, "evil.example", "Hackers.R.Us.", "xn--bcher-kva.example", "evil.example")
	if d.Len() != 3 {
		t.Errorf("len %d, want 3 (a duplicate is kept once)", d.Len())
	}
	for q, want := range map[string]string{
		"evil.example":            "evil.example",
		"EVIL.example.":           "EVIL.example",
		"a.b.evil.example":        "evil.example",
		"hackers.r.us":            "hackers.r.us",
		"www.HACKERS.r.us.":       "HACKERS.r.us",
		"xn--bcher-kva.example":   "xn--bcher-kva.example",
		"notevil.example":         "",
		"example":                 "",
		"evil.example.org":        "",
		"r.us":                    "",
		"":                        "",
		".":                       "",
		strings.Repeat("a.", 300): "",
		"x." + strings.Repeat("a", 300) + ".evil.example": "evil.example",
	} {
		got, ok := d.Match(q)
		if ok != (want != "") || got != want {
			t.Errorf("Match(%q) = %q, %v; want %q", q, got, ok, want)
		}
	}
	var empty *DomainSet
	if empty.Contains("a") || empty.Len() != 0 {
		t.Error("a nil set matched")
	}
}

func TestDomainSetLookupAllocatesNothing(t *testing.T) {
	d := domains(t, "evil.example", "c2.test")
	qs := []string{"a.b.c.EVIL.example.", "www.example.org", "c2.test"}
	if n := testing.AllocsPerRun(1000, func() {
		for _, q := range qs {
			d.Contains(q)
		}
	}); n != 0 {
		t.Errorf("%v allocations per lookup round", n)
	}
}

func TestDomainSetManyNames(t *testing.T) {
	var names []string
	for i := range 50000 {
		names = append(names, fmt.Sprintf("host%d.bad%d.example", i, i%97))
	}
	d := domains(t, names...)
	if d.Len() != len(names) {
		t.Fatalf("len %d", d.Len())
	}
	for i := 0; i < len(names); i += 997 {
		if !d.Contains("x." + names[i]) {
			t.Errorf("%s missing", names[i])
		}
		if d.Contains(fmt.Sprintf("host%d.bad%d.example", i, (i+1)%97)) {
			t.Errorf("a name never listed matched")
		}
	}
}
