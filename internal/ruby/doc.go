// Package ruby reproduces what Ruby does with a record in fluentd's grep
// filter, and the Onigmo regexes Fluent Bit's grep uses too, so that an
// imported rule means what it meant there:
//
//   - Onigmo regexes (Ruby's Regexp; Fluent Bit links Onigmo too):
//     Compile translates a pattern to Go's RE2 with the same meaning, or,
//     when it needs look-around, back-references, atomic groups or
//     possessive quantifiers (atomic groups there), to regexp2's (.NET)
//     syntax; POSIX brackets keep Onigmo's Unicode meaning (posixBracket); run with a time budget per match
//     (MatchBudget; timeouts are counted, see Timeouts). What neither
//     engine expresses exactly is refused with the reason: a filter that
//     silently matched something else would be worse than an import that
//     stops.
//   - Ruby's to_s of a JSON value (ToS), the text fluentd's grep matches.
//   - fluentd's record_accessor keys ($.a.b[0], $['a']['b']):
//     ParseAccessor.
//
// The rule engine (rules), the fluentd importer and the Fluent Bit
// importer all use this package; none has Ruby semantics of its own.
package ruby
