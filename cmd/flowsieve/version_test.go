package main

import (
	"runtime/debug"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	vcs := func(modified string) *debug.BuildInfo {
		return &debug.BuildInfo{
			Main: debug.Module{Path: "github.com/flowsieve/flowsieve", Version: "v0.0.0-20261202055900-861a26454193+dirty"},
			Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "861a26454193a144894989c501c2e2977cbd5e5b"},
				{Key: "vcs.time", Value: "2026-12-02T05:59:00Z"},
				{Key: "vcs.modified", Value: modified},
			},
		}
	}
	for _, tc := range []struct {
		name    string
		stamped buildStamp
		bi      *debug.BuildInfo
		want    buildStamp
	}{
		{"make build: the stamps win", buildStamp{version: "v1.2.0-3-gabcdef0-dirty", revision: "abcdef0", branch: "main", date: "2026-12-02T06:00:00Z"}, vcs("true"),
			buildStamp{"v1.2.0-3-gabcdef0-dirty", "abcdef0", "main", "2026-12-02T06:00:00Z", "unknown"}},
		{"go build in a checkout with changes", buildStamp{}, vcs("true"),
			buildStamp{"v0.0.0-20261202055900-861a26454193+dirty", "861a26454193a144894989c501c2e2977cbd5e5b-modified", "unknown", "2026-12-02T05:59:00Z (commit time)", "unknown"}},
		{"go build in a clean checkout", buildStamp{}, vcs("false"),
			buildStamp{"v0.0.0-20261202055900-861a26454193+dirty", "861a26454193a144894989c501c2e2977cbd5e5b", "unknown", "2026-12-02T05:59:00Z (commit time)", "unknown"}},
		{"go install module@version", buildStamp{}, &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}},
			buildStamp{"v1.3.0", "unknown", "unknown", "unknown", "unknown"}},
		{"no VCS (docker build without stamps)", buildStamp{}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			buildStamp{"unknown", "unknown", "unknown", "unknown", "unknown"}},
		{"no build info", buildStamp{version: "v1"}, nil,
			buildStamp{"v1", "unknown", "unknown", "unknown", "unknown"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeBuild(tc.stamped, tc.bi); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
