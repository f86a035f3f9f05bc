package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/flowsieve/flowsieve/config"
)

// The repository root, seen from this package's directory (inside the module).
const repoRoot = "../.."

// docPages returns README.md, deploy/README.md and every page under docs/,
// as paths relative to the repository root.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no docs/*.md pages found")
	}
	out := []string{"README.md", "deploy/README.md"}
	for _, p := range pages {
		out = append(out, "docs/"+filepath.Base(p))
	}
	return out
}

func readDoc(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, page))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The committed reference page is what `flowsieve config keys --markdown`
// prints today: a key added to config/keys.go without regenerating fails here.
func TestConfigReferenceUpToDate(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := configCmd(t.Context(), []string{"keys", "--markdown"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("config keys --markdown: exit %d: %s", code, stderr.String())
	}
	committed := readDoc(t, "docs/config-reference.md")
	if committed == stdout.String() {
		return
	}
	got, want := strings.Split(committed, "\n"), strings.Split(stdout.String(), "\n")
	line := 0
	for line < len(got) && line < len(want) && got[line] == want[line] {
		line++
	}
	var gotLine, wantLine string
	if line < len(got) {
		gotLine = got[line]
	}
	if line < len(want) {
		wantLine = want[line]
	}
	t.Errorf("docs/config-reference.md differs from `flowsieve config keys --markdown` (from config/keys.go); "+
		"regenerate it with `go generate ./cmd/flowsieve` and commit it.\nfirst difference, line %d:\ncommitted: %s\ngenerated: %s",
		line+1, gotLine, wantLine)
}

// Every page is reachable from the README, and every relative link of every
// page leads to a file that exists (and to a heading of it, for #anchors).
func TestDocLinks(t *testing.T) {
	pages := docPages(t)
	linked := map[string]bool{}
	for _, page := range pages {
		for _, link := range mdLinks(readDoc(t, page)) {
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(link, "#")
			target := page
			if path != "" {
				target = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(page), path)))
			}
			if _, err := os.Stat(filepath.Join(repoRoot, target)); err != nil {
				t.Errorf("%s: link %q: %s does not exist", page, link, target)
				continue
			}
			if page == "README.md" {
				linked[target] = true
			}
			if anchor != "" && strings.HasSuffix(target, ".md") && !slices.Contains(mdAnchors(readDoc(t, target)), anchor) {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", page, link, target, anchor)
			}
		}
	}
	for _, page := range pages[1:] {
		if !linked[page] {
			t.Errorf("%s is not linked from README.md", page)
		}
	}
}

// A config key named in the docs (`kafka.brokers`, --rules.file) exists:
// the README once named commit.interval, which never did. Two nets: any
// name under a config section (kafka., input., ...), in prose or code; and
// any dotted name in backticks, which must be a key, a file or one of the
// few other dotted names the docs use (topics, headers, Kafka settings).
func TestDocsNameOnlyRealConfigKeys(t *testing.T) {
	keys := config.Keys()
	sections := map[string]bool{}
	for _, k := range keys {
		if s, _, ok := strings.Cut(k, "."); ok {
			sections[s] = true
		}
	}
	var alt []string
	for s := range sections {
		alt = append(alt, regexp.QuoteMeta(s))
	}
	slices.Sort(alt)
	underSection := regexp.MustCompile(`(?:^|[^\w.-]|--)((?:` + strings.Join(alt, "|") + `)(?:\.[a-z_]+)+)\b`)
	backticked := regexp.MustCompile("`(?:--)?([a-z][a-z0-9_]*(?:\\.[a-z0-9_]+)+)(?:[= ][^`]*)?`")
	notKeys := []string{
		"kafka.brokrs",                         // configuration.md's example of a misspelt key
		"max.message.bytes", "isolation.level", // Kafka's own settings
		"web.config.file",                            // the exporters' flag metrics.web_config_file stands for
		"flowsieve.reason", "flowsieve.source.topic", // invalid-topic headers
		"flowsieve.source.partition", "flowsieve.source.offset", "flowsieve.truncated",
		"flowsieve.sample_rate",   // the sample-rate header of sampled kept records
		"flowsieve.rules_version", // the rules-version header of every output
	}
	isFile := func(name string) bool {
		return slices.Contains([]string{".yaml", ".yml", ".json", ".md", ".go", ".txt", ".log", ".jsonl", ".rb", ".c", ".conf", ".test", ".prof", ".mod", ".sum", ".sh", ".toml", ".crt", ".key", ".pem"}, filepath.Ext(name))
	}
	reported := map[string]bool{}
	check := func(page, name string) {
		if reported[page+" "+name] {
			return
		}
		reported[page+" "+name] = true
		// GlobalThreatFeed manifest fields and example domains (RFC 2606)
		// are dotted too.
		manifest := strings.HasPrefix(name, "spec.") || strings.HasPrefix(name, "metadata.") || strings.HasSuffix(name, ".example")
		if isFile(name) || manifest || slices.Contains(notKeys, name) || strings.HasPrefix(name, "flows.") || slices.Contains(keys, name) {
			return
		}
		t.Errorf("%s names config key %q, which config/keys.go does not declare", page, name)
	}
	for _, page := range docPages(t) {
		text := readDoc(t, page)
		for _, m := range underSection.FindAllStringSubmatch(text, -1) {
			check(page, m[1])
		}
		for _, m := range backticked.FindAllStringSubmatch(text, -1) {
			check(page, m[1])
		}
	}
}

var mdLinkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// mdLinks returns the targets of the page's Markdown links outside code blocks.
func mdLinks(page string) []string {
	var out []string
	for _, line := range proseLines(page) {
		for _, m := range mdLinkRE.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// mdAnchors returns the anchors GitHub gives the page's headings: lower
// case, spaces as hyphens, punctuation other than - and _ dropped.
func mdAnchors(page string) []string {
	var out []string
	for _, line := range proseLines(page) {
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// proseLines returns the page's lines outside ``` code blocks.
func proseLines(page string) []string {
	var out []string
	inCode := false
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			out = append(out, line)
		}
	}
	return out
}
