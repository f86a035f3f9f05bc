package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// query is one PromQL expression and where it was found.
type query struct {
	where string
	expr  string
}

// grafanaBuiltins are Grafana's interval variables; they stand for a
// duration, so a query is parsed with one in their place.
var grafanaBuiltins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1h",
}

var grafanaVar = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)

// labelValuesRE is Grafana's label_values(metric, label) variable query,
// which is not PromQL itself; its metric selector is.
var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

type dashboard struct {
	raw       map[string]any
	queries   []query
	variables map[string]bool
	panels    []dashPanel
}

type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "flowsieve.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d.raw); err != nil {
		t.Fatalf("flowsieve.json: %v", err)
	}
	var typed struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &typed); err != nil {
		t.Fatalf("flowsieve.json: %v", err)
	}
	d.panels = typed.Panels
	d.variables = map[string]bool{}
	for _, v := range typed.Templating.List {
		d.variables[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				t.Fatalf("variable %s: query: %v", v.Name, err)
			}
		}
		m := labelValuesRE.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
			continue
		}
		d.queries = append(d.queries, query{"variable " + v.Name, m[1]})
	}
	// Every "expr" anywhere: panel targets, nested row panels, annotations.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if e, ok := x["expr"].(string); ok {
				d.queries = append(d.queries, query{path, e})
			}
			for k, c := range x {
				where := path + "." + k
				if title, ok := x["title"].(string); ok {
					where = fmt.Sprintf("%s (%q).%s", path, title, k)
				}
				walk(where, c)
			}
		case []any:
			for i, c := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("dashboard", d.raw)
	return d
}

func readAlerts(t *testing.T) (ruleFile, []query) {
	t.Helper()
	var rf ruleFile
	readYAMLStrict(t, filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"), &rf)
	var qs []query
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"alert " + r.Alert, r.Expr})
		}
	}
	return rf, qs
}

// expand puts a duration in place of Grafana's interval variables and
// reports variables the dashboard does not define. Other variables only
// appear inside label-matcher strings, where the parser takes them as text.
func expand(t *testing.T, q query, vars map[string]bool) string {
	t.Helper()
	return grafanaVar.ReplaceAllStringFunc(q.expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if d, ok := grafanaBuiltins[name]; ok {
			return d
		}
		if !vars[name] {
			t.Errorf("%s: $%s is not a dashboard variable", q.where, name)
		}
		return m
	})
}

// selectorUse is a metric a query reads, with the labels it matches on or
// groups by.
type selectorUse struct {
	where  string
	metric string
	labels []string
}

// parseQueries parses every query with Prometheus' own parser and returns
// the metrics and labels they use.
func parseQueries(t *testing.T, qs []query, vars map[string]bool) []selectorUse {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var uses []selectorUse
	for _, q := range qs {
		expr, err := p.ParseExpr(expand(t, q, vars))
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		found := false
		parser.Inspect(expr, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			u := selectorUse{where: q.where, metric: vs.Name}
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					if m.Type != labels.MatchEqual {
						t.Errorf("%s: metric name matched by regex; name it", q.where)
					}
					u.metric = m.Value
					continue
				}
				u.labels = append(u.labels, m.Name)
			}
			// Labels that enclosing aggregations group by, or vector
			// matching names, must exist on this metric too.
			for _, anc := range path {
				switch a := anc.(type) {
				case *parser.AggregateExpr:
					if !a.Without {
						u.labels = append(u.labels, a.Grouping...)
					}
				case *parser.BinaryExpr:
					if a.VectorMatching != nil && a.VectorMatching.On {
						u.labels = append(u.labels, a.VectorMatching.MatchingLabels...)
					}
				}
			}
			uses = append(uses, u)
			found = true
			return nil
		})
		if !found {
			t.Errorf("%s: %q reads no metric", q.where, q.expr)
		}
	}
	return uses
}

func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.raw["uid"] != "flowsieve" || d.raw["title"] == "" {
		t.Errorf("dashboard uid %v title %v", d.raw["uid"], d.raw["title"])
	}
	if !d.variables["datasource"] {
		t.Error("no datasource variable: the dashboard would only work with a data source of one exact uid")
	}

	// The panels the dashboard promises (issue: throughput in/out, kept vs
	// dropped vs flagged, drops per rule, threats per rule and severity,
	// parse errors, lag per partition, latency percentiles, rules version
	// and reload failures).
	titles := map[string]dashPanel{}
	ids := map[int]bool{}
	for _, p := range d.panels {
		titles[p.Title] = p
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
	}
	for _, want := range []struct{ title, metric string }{
		{"Throughput in / out", "flowsieve_records_consumed_total"},
		{"Throughput in / out", "flowsieve_records_produced_total"},
		{"Kept vs dropped vs flagged", "flowsieve_records_dropped_total"},
		{"Kept vs dropped vs flagged", "flowsieve_flows_flagged_total"},
		{"Drops per rule", "by (rule)"},
		{"Threats per rule and severity", "by (rule, severity)"},
		{"Parse errors", "flowsieve_parse_errors_total"},
		{"Lag per partition", "by (topic, partition)"},
		{"Latency percentiles", "histogram_quantile(0.99"},
		{"Rules version", "flowsieve_rules_version_info"},
		{"Reloads", "flowsieve_rules_reloads_total"},
		{"Last reload", "flowsieve_rules_last_reload_successful"},
	} {
		p, ok := titles[want.title]
		if !ok {
			t.Errorf("no panel %q", want.title)
			continue
		}
		if !slices.ContainsFunc(p.Targets, func(tg struct {
			Expr  string `json:"expr"`
			RefID string `json:"refId"`
		}) bool {
			return strings.Contains(tg.Expr, want.metric)
		}) {
			t.Errorf("panel %q: no query with %q", want.title, want.metric)
		}
	}
	// Overlapping panels are moved around by Grafana, not shown as laid out.
	for i, a := range d.panels {
		for _, b := range d.panels[i+1:] {
			ga, gb := a.GridPos, b.GridPos
			if ga.X < gb.X+gb.W && gb.X < ga.X+ga.W && ga.Y < gb.Y+gb.H && gb.Y < ga.Y+ga.H {
				t.Errorf("panels %q and %q overlap", a.Title, b.Title)
			}
		}
	}

	if len(d.queries) < 20 {
		t.Errorf("found only %d queries in the dashboard; the walk is broken", len(d.queries))
	}
	parseQueries(t, d.queries, d.variables)
}

func TestAlertRules(t *testing.T) {
	rf, qs := readAlerts(t)
	want := []string{"FlowsieveConsumerLagGrowing", "FlowsieveRulesReloadFailing", "FlowsieveInvalidRecordsRising", "FlowsieveThreatsSpiking"}
	var names []string
	// Prometheus expands annotations as Go templates with its own
	// functions; parse them with stand-ins of the ones used here.
	funcs := template.FuncMap{}
	for _, f := range []string{"humanize", "humanizePercentage", "humanizeDuration", "printf", "query", "first", "value", "label"} {
		funcs[f] = func(...any) string { return "" }
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s: no severity label", r.Alert)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs summary and description annotations", r.Alert)
			}
			for k, text := range r.Annotations {
				tmpl := "{{$labels := .Labels}}{{$value := .Value}}" + text
				if _, err := template.New(k).Funcs(funcs).Parse(tmpl); err != nil {
					t.Errorf("alert %s annotation %s: %v", r.Alert, k, err)
				}
			}
		}
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("no alert %s", w)
		}
	}
	parseQueries(t, qs, nil)

	// alerts_test.yml (promtool's rule unit tests) covers every alert with
	// a case where it fires.
	var pt struct {
		RuleFiles          []string `json:"rule_files"`
		EvaluationInterval string   `json:"evaluation_interval"`
		Tests              []struct {
			Interval    string `json:"interval"`
			InputSeries []struct {
				Series string `json:"series"`
				Values string `json:"values"`
			} `json:"input_series"`
			AlertRuleTest []struct {
				EvalTime  string `json:"eval_time"`
				Alertname string `json:"alertname"`
				ExpAlerts []struct {
					ExpLabels      map[string]string `json:"exp_labels"`
					ExpAnnotations map[string]string `json:"exp_annotations"`
				} `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAMLStrict(t, filepath.Join(repoRoot, "deploy", "prometheus", "alerts_test.yml"), &pt)
	if !slices.Equal(pt.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("alerts_test.yml tests %v, want alerts.yml", pt.RuleFiles)
	}
	p := parser.NewParser(parser.Options{})
	fires := map[string]bool{}
	for _, tc := range pt.Tests {
		for _, in := range tc.InputSeries {
			if _, err := p.ParseMetric(in.Series); err != nil {
				t.Errorf("alerts_test.yml: series %q: %v", in.Series, err)
			}
		}
		for _, at := range tc.AlertRuleTest {
			if !slices.Contains(names, at.Alertname) {
				t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", at.Alertname)
			}
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			}
		}
	}
	for _, n := range names {
		if !fires[n] {
			t.Errorf("alerts_test.yml has no case where %s fires", n)
		}
	}
}
