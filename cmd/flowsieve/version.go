package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/prometheus/common/version"
	"go.uber.org/zap"
)

// The build is described by prometheus/common/version's variables, as in
// Prometheus' own binaries, so `flowsieve version`, the
// flowsieve_build_info gauge (client_golang's collectors/version) and the
// first log line of `run` say the same. `make build` and the Dockerfile
// stamp Version (git describe), Revision, Branch and BuildDate with
// -ldflags -X; what a build leaves unstamped (go build, go install) comes
// from the build info the go command embeds.
func init() {
	bi, _ := debug.ReadBuildInfo()
	b := describeBuild(buildStamp{
		version:  version.Version,
		revision: version.Revision,
		branch:   version.Branch,
		date:     version.BuildDate,
		user:     version.BuildUser,
	}, bi)
	version.Version, version.Revision, version.Branch = b.version, b.revision, b.branch
	version.BuildDate, version.BuildUser = b.date, b.user
}

// buildStamp is what is known of a build.
type buildStamp struct {
	version, revision, branch, date, user string
}

// describeBuild fills what stamped lacks from bi (nil when the binary has
// no build info): the module version (a tag for go install module@v1.2.3, a
// pseudo-version when built in a git checkout), the VCS revision (with
// "-modified" for uncommitted changes, as prometheus/common/version
// writes it) and the commit time. The rest becomes "unknown".
func describeBuild(stamped buildStamp, bi *debug.BuildInfo) buildStamp {
	b := stamped
	var vcsRev, vcsTime string
	var modified bool
	if bi != nil {
		if b.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if b.revision == "" && vcsRev != "" {
		b.revision = vcsRev
		if modified {
			b.revision += "-modified"
		}
	}
	if b.date == "" && vcsTime != "" {
		b.date = vcsTime + " (commit time)"
	}
	for _, f := range []*string{&b.version, &b.revision, &b.branch, &b.date, &b.user} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return b
}

// versionCmd: `flowsieve version` (and `flowsieve --version`) prints the
// build in the format of Prometheus' binaries' --version.
func versionCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: flowsieve version")
		return exitUsage
	}
	fmt.Fprintln(stdout, version.Print("flowsieve"))
	return exitOK
}

// buildFields are the build's log fields, for the first line `run` logs.
func buildFields() []zap.Field {
	return []zap.Field{
		zap.String("version", version.Version), zap.String("revision", version.GetRevision()),
		zap.String("branch", version.Branch), zap.String("build_date", version.BuildDate),
		zap.String("go_version", version.GoVersion), zap.String("platform", version.GoOS+"/"+version.GoArch),
	}
}
