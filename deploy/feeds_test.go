package deploy

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/flowsieve/flowsieve/rules/feeds"
)

// TestComposeFeeds: the compose stack pulls a GlobalThreatFeed from its
// feeds service. The manifest flowsieve sees (calico-compose.yaml, mounted
// over calico.yaml) is the repository's calico.yaml Enabled, and its URL
// names a file the feeds service serves.
func TestComposeFeeds(t *testing.T) {
	p := loadCompose(t)
	srv := p.Services["feeds"]
	if len(srv.Command) != 5 || srv.Command[0] != "serve-feeds" || srv.Command[1] != "--dir" || srv.Command[3] != "--listen" {
		t.Fatalf("feeds command %q, want serve-feeds --dir DIR --listen ADDR", srv.Command)
	}
	served := hostPath(srv, srv.Command[2])
	_, port, err := net.SplitHostPort(srv.Command[4])
	if served == "" || err != nil {
		t.Fatalf("feeds serves %s (host %q) on %s: %v", srv.Command[2], served, srv.Command[4], err)
	}

	fs := p.Services["flowsieve"]
	seen := hostPath(fs, "/etc/flowsieve/feeds/calico.yaml")
	if filepath.Base(seen) != "calico-compose.yaml" {
		t.Fatalf("flowsieve sees %s as feeds/calico.yaml, want calico-compose.yaml", seen)
	}
	parse := func(path string) *feeds.Spec {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		specs, err := feeds.ParseManifests(data, path)
		if err != nil || len(specs) != 1 {
			t.Fatalf("%s: %d feeds, %v", path, len(specs), err)
		}
		specs[0].File, specs[0].Line = "", 0
		return specs[0]
	}
	compose := parse(seen)
	plain := parse(filepath.Join(repoRoot, "config", "feeds", "calico.yaml"))
	if compose.Disabled || !plain.Disabled {
		t.Errorf("compose's feed disabled %v, the repository's %v: want Enabled in compose only", compose.Disabled, plain.Disabled)
	}
	plain.Disabled = false
	if !reflect.DeepEqual(compose, plain) {
		t.Errorf("calico-compose.yaml differs from calico.yaml beyond mode:\n%+v\n%+v", compose, plain)
	}
	u, err := url.Parse(compose.URL)
	if err != nil || u.Hostname() != "feeds" || u.Port() != port {
		t.Fatalf("feed url %s, want http://feeds:%s/FILE", compose.URL, port)
	}
	if _, err := os.Stat(filepath.Join(served, u.Path)); err != nil {
		t.Errorf("the feeds service does not serve %s: %v", u.Path, err)
	}
}
