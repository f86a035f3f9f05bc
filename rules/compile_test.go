package rules

import (
	"strconv"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/internal/quote"
)

// TestBadRegexErrorQuotesExcerptOnce: a bad 50 KB regex used to be printed
// twice in its error (ours, then the engine's copy), 100 KB of message.
// Now the error quotes a short, clearly cut excerpt once.
func TestBadRegexErrorQuotesExcerptOnce(t *testing.T) {
	long := strings.Repeat("x", 50000) + "("
	for _, compat := range []string{"", "compat: fluentd, ", "compat: fluent-bit, "} {
		yaml := "filters:\n  - {name: f, action: exclude, " + compat + "when: {key: a, regex: \"" + long + "\"}}\n"
		_, err := Load([]byte(yaml), "rules.yaml")
		if err == nil {
			t.Fatalf("%s: a bad regex loaded", compat)
		}
		msg := err.Error()
		if len(msg) > 300 || strings.Count(msg, strings.Repeat("x", quote.Max)) != 1 {
			t.Errorf("%s: error of %d bytes: %.300s", compat, len(msg), msg)
		}
		if want := "… (" + strconv.Itoa(len(long)) + " bytes)"; !strings.Contains(msg, want) {
			t.Errorf("%s: error %q does not say it was cut (%s)", compat, msg, want)
		}
	}
}
