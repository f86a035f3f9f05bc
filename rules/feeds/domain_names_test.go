package feeds

import (
	"slices"
	"testing"
)

// TestDomainSetNamesHas: Names lists each distinct name once, lower case;
// Has is exact (a name under a listed one is not listed).
func TestDomainSetNamesHas(t *testing.T) {
	var b domainBuilder
	for _, n := range []string{"Evil.Example", "evil.example.", "c2.test", "x.y.z"} {
		if why := b.add(n); why != "" {
			t.Fatalf("add %q: %s", n, why)
		}
	}
	d := b.build()
	got := slices.Sorted(d.Names())
	if want := []string{"c2.test", "evil.example", "x.y.z"}; !slices.Equal(got, want) {
		t.Errorf("Names = %q, want %q", got, want)
	}
	for name, want := range map[string]bool{"EVIL.example.": true, "c2.test": true, "a.c2.test": false, "y.z": false, "": false} {
		if d.Has(name) != want {
			t.Errorf("Has(%q) = %v", name, !want)
		}
	}
	var none *DomainSet
	if none.Has("c2.test") || len(slices.Collect(none.Names())) != 0 {
		t.Error("a nil set has names")
	}
}
