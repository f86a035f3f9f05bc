// Package feeds reads threat feeds the way Calico users describe them:
// GlobalThreatFeed resources (projectcalico.org/v3), pulled over HTTP(S),
// holding IP sets or domain-name sets.
//
// ParseManifests reads the manifests (what kubectl get globalthreatfeeds
// -o yaml prints) with every error at its file:line:col. Build reads a
// feed body in any of Calico's formats (newlineDelimited, json with a
// path, csv with a column) into an immutable Table: a bart prefix table
// for an IPSet, a DomainSet for a DomainNameSet. A Manager pulls feeds
// (conditional requests, a timeout, a size limit, TLS with the system's
// roots plus an optional CA, header values from files or the environment),
// keeps the last good table of each, caches its body on disk, and reports
// each feed's health (Status).
//
// The package never holds a rule Set: the rules package asks the Manager
// for tables while it loads a rule file, and reloads when Updates says a
// table changed, so new feed data swaps in as a whole new Set.
//
// Secrets: a header value (literal or from a Secret) never appears in a
// log line, an error or a Status; URLs are shown without userinfo and
// query (Redact); a bad entry is shown as a short excerpt, never whole.
package feeds
