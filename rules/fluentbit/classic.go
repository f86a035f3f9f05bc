package fluentbit

import (
	"strings"
)

// ParseClassic reads the [FILTER] sections of a classic Fluent Bit config
// (fluent-bit.conf). It follows Fluent Bit's reader
// (src/config_format/flb_cf_fluentbit.c) line by line, so a file Fluent Bit
// refuses is refused here with the same reason, and a file it accepts means
// the same thing: one indentation string for the whole file, `#` comments
// only at the start of a line or right after the indentation, the key split
// from its value at the first space, keys lowercased, keys and values
// trimmed, and a section's kind picked by case-insensitive prefix ("[F]" is
// a filter section).
//
// Sections other than filters are read for their syntax and otherwise
// ignored. @INCLUDE is refused (import the included file itself); other
// @-commands such as @SET are ignored, and a value that uses a variable
// (${NAME}) is refused later, when the filter is imported.
func ParseClassic(file string, data []byte) ([]Filter, error) {
	var (
		filters []Filter
		cur     *Filter // the current section when it is a filter
		inSect  bool
		inGroup bool
		nKeys   int
		indent  string
		haveInd bool
		nFilter int
	)
	lines := strings.Split(string(data), "\n")
	for n, buf := range lines {
		pos := Pos{File: file, Line: n + 1}
		if n < len(lines)-1 && strings.HasSuffix(buf, "\r") {
			buf = buf[:len(buf)-1] // fgets kept the \n; Fluent Bit drops \n then \r
		}
		if i := strings.IndexByte(buf, 0); i >= 0 {
			buf = buf[:i] // C string functions stop at NUL
		}
		if buf == "" || buf[0] == '#' {
			continue
		}
		if len(buf) > 9 && eqFold(buf[:9], "@INCLUDE ") {
			return nil, errorf(pos, "@INCLUDE %s: included files are not followed; import that file on its own", strings.TrimSpace(buf[9:]))
		}
		if buf[0] == '@' && len(buf) > 3 {
			continue // @SET and other meta commands
		}
		if buf[0] == '[' {
			end := strings.IndexByte(buf, ']')
			if end < 0 {
				return nil, errorf(pos, "bad header definition")
			}
			name := buf[1:end]
			inSect, inGroup, nKeys = true, false, 0
			cur = nil
			if sectionIsFilter(name) {
				nFilter++
				filters = append(filters, Filter{Pos: pos, Desc: "[" + name + "] section " + itoa(nFilter)})
				cur = &filters[len(filters)-1]
			}
			continue
		}
		if !haveInd {
			i := 0
			for {
				i++
				if !(i < len(buf) && isBlank(buf[i])) {
					break
				}
			}
			indent, haveInd = buf[:i], true
			if i == len(buf) {
				continue // a blank indented line
			}
		}
		level, group, msg := checkIndent(buf, indent)
		if msg != "" {
			return nil, errorf(pos, "invalid indentation level: %s", msg)
		}
		if !group {
			inGroup = false
		}
		if level == len(buf) || buf[level] == '#' {
			continue
		}
		rest := buf[level:]
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			return nil, errorf(pos, "undefined value - check config is in valid classic format")
		}
		key := rest[:sp]
		if key == "" {
			return nil, errorf(pos, "undefined key - check config is in valid classic format")
		}
		if key[0] == '[' {
			if strings.IndexByte(rest, ']') < 0 {
				return nil, errorf(pos, "expected a valid group name: [..]")
			}
			if !inSect {
				return nil, errorf(pos, "current group don't have a parent section")
			}
			if inGroup && nKeys == 0 {
				return nil, errorf(pos, "previous group did not have keys")
			}
			inGroup, nKeys = true, 0
			if cur != nil {
				return nil, errorf(pos, "%s: groups inside a filter section are not supported by the importer", cur.Desc)
			}
			continue
		}
		val := rest[sp+1:]
		if val == "" {
			return nil, errorf(pos, "key has an empty value")
		}
		if !inSect {
			return nil, errorf(pos, "could not allocate key value pair (a property outside any section)")
		}
		k, ok := trimSpace(strings.ToLower(key))
		if !ok {
			return nil, errorf(pos, "invalid key")
		}
		v, ok := trimSpace(val)
		if !ok {
			return nil, errorf(pos, "invalid value: only spaces")
		}
		nKeys++
		if cur != nil {
			if inGroup {
				return nil, errorf(pos, "%s: groups inside a filter section are not supported by the importer", cur.Desc)
			}
			cur.Props = append(cur.Props, Prop{Key: k, Value: v, Pos: pos})
		}
	}
	return filters, nil
}

// sectionIsFilter mirrors get_section_type: the section name is compared
// with strncasecmp over its own length, so any non-empty prefix of
// "filters" names a filter section (no earlier section type starts with f).
func sectionIsFilter(name string) bool {
	return name != "" && len(name) <= len("filters") && eqFold(name, "filters"[:len(name)])
}

// checkIndent mirrors check_indent: the line must start with the file's
// indentation; blanks beyond it are allowed only as one more level of the
// same width (group content). It returns where the key starts.
func checkIndent(line, indent string) (level int, group bool, msg string) {
	for level < len(indent) && level < len(line) && line[level] == indent[level] {
		level++
	}
	if level < len(indent) {
		if level < len(line) && isBlank(line[level]) {
			return 0, false, "inconsistent use of tab and space"
		}
		return 0, false, "indentation level is too low"
	}
	if level < len(line) && isBlank(line[level]) {
		extra := 0
		for level+extra < len(line) && isBlank(line[level+extra]) {
			extra++
		}
		if extra == level {
			return level + extra, true, ""
		}
		return 0, false, "extra indentation level found"
	}
	return level, false, ""
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
