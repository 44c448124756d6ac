package schema

import (
	"strings"
)

// combinators applies allOf, anyOf, oneOf, not and if/then/else to the
// value at start. Each alternative re-scans the value. end is where the
// value ends, or -1 when it has not been scanned yet (the node has no
// keywords of its own): then the first alternative that scans the whole
// value tells, and only when none does is the value skipped separately.
// Until then the value's syntax is unchecked, so a syntax error may turn up
// while quiet; it is recorded all the same and ends the validation.
func (s *state) combinators(n *node, start, end int) bool {
	scanned := func() bool {
		if end < 0 {
			s.pos = start
			if !s.skip() {
				return false
			}
			end = s.pos
		}
		return true
	}
	for _, b := range n.allOf {
		s.pos = start
		if !s.value(b) {
			return false
		}
		end = s.pos
	}
	if len(n.anyOf) > 0 {
		sole, ok := s.soleCandidate(n.anyOf, start)
		if !ok {
			return false
		}
		matched := false
		if sole != nil {
			// Only one alternative can accept this kind of value: its
			// verdict and its violations are the anyOf's.
			s.pos = start
			if !s.value(sole) {
				return false
			}
			matched, end = true, s.pos
		}
		for _, b := range n.anyOf {
			if matched {
				break
			}
			if s.try(b, start) {
				matched, end = true, s.pos
			} else if s.syntax {
				return false
			}
		}
		if !matched {
			if s.quiet > 0 {
				return s.fail()
			}
			if !scanned() || !s.noMatch(n, n.anyOf, "anyOf", start, end) {
				return false
			}
		}
	}
	if len(n.oneOf) > 0 {
		sole, ok := s.soleCandidate(n.oneOf, start)
		if !ok {
			return false
		}
		if sole != nil {
			s.pos = start
			if !s.value(sole) {
				return false
			}
			end = s.pos
		}
		first, second := -1, -1
		if sole != nil {
			first = len(n.oneOf) // matched (or reported) already
		}
		for i, b := range n.oneOf {
			if sole != nil {
				break
			}
			if s.try(b, start) {
				end = s.pos
				if first >= 0 {
					second = i
					break
				}
				first = i
			} else if s.syntax {
				return false
			}
		}
		switch {
		case first < 0:
			if s.quiet > 0 {
				return s.fail()
			}
			if !scanned() || !s.noMatch(n, n.oneOf, "oneOf", start, end) {
				return false
			}
		case second >= 0:
			if s.quiet > 0 {
				return s.fail()
			}
			exp := "exactly one of: " + describeAll(n.oneOf)
			got := "a value matching both " + describe(n.oneOf[first]) + " and " + describe(n.oneOf[second])
			if !s.violation("oneOf", start, exp, got, "at "+where(s.pathString())+": expected "+exp+"; got "+got) {
				return false
			}
		}
	}
	if n.not != nil {
		if s.try(n.not, start) {
			end = s.pos
			if s.quiet > 0 {
				return s.fail()
			}
			exp := "a value not matching " + describe(n.not)
			got := s.describeValue(start, end)
			if !s.violation("not", start, exp, got, "at "+where(s.pathString())+": expected "+exp+", got "+got) {
				return false
			}
		} else if s.syntax {
			return false
		}
	}
	if n.ifN != nil {
		branch := n.elseN
		if s.try(n.ifN, start) {
			branch, end = n.thenN, s.pos
		} else if s.syntax {
			return false
		}
		if branch != nil {
			s.pos = start
			if !s.value(branch) {
				return false
			}
			end = s.pos
		}
	}
	if !scanned() {
		return false
	}
	s.pos = end
	return true
}

// soleCandidate returns the only alternative whose types accept the kind
// of the value at start, or nil when there are several or none. ok is false
// after a syntax error in the value's first token.
func (s *state) soleCandidate(alts []*node, start int) (sole *node, ok bool) {
	kind, ok := s.kindAhead(start)
	if !ok {
		return nil, false
	}
	for _, a := range alts {
		if a.resolve().never || !typesOf(a).allows(kind) {
			continue
		}
		if sole != nil {
			return nil, true
		}
		sole = a
	}
	return sole, true
}

// kindAhead returns the kind of the value at start from its first token,
// leaving s.pos unchanged. ok is false after a syntax error in a number.
func (s *state) kindAhead(start int) (kind typeSet, ok bool) {
	if start >= len(s.data) {
		return 0, true // the alternatives will report the end of input
	}
	switch c := s.data[start]; {
	case c == '{':
		return tObject, true
	case c == '[':
		return tArray, true
	case c == '"':
		return tString, true
	case c == 't' || c == 'f':
		return tBoolean, true
	case c == 'n':
		return tNull, true
	case c == '-' || (c >= '0' && c <= '9'):
		s.pos = start
		integer, ok := s.scanNumber()
		if !ok {
			return 0, false
		}
		if integer || parseDecimal(s.data[start:s.pos]).isInteger() {
			kind = tInteger
		} else {
			kind = tNumber
		}
		s.pos = start
		return kind, true
	}
	return 0, true // not a value: the alternatives will report it
}

// try reports whether the value at start matches n, without recording
// violations. On success s.pos is at the end of the value. It restores the
// rest of the state; a syntax error found on the way stays recorded.
func (s *state) try(n *node, start int) bool {
	depth, npath, nseen, nspan := s.depth, s.npath, len(s.seen), s.nspan
	s.quiet++
	s.failed = false
	s.pos = start
	ok := s.value(n) && !s.failed
	s.quiet--
	s.failed = false
	s.depth, s.npath, s.seen, s.nspan = depth, npath, s.seen[:nseen], nspan
	return ok
}

// noMatch reports that no alternative of an anyOf or oneOf matched a value
// that two or more alternatives, or none, accept by type (when exactly one
// does, soleCandidate has had it validated aloud instead). With none, the
// message names the types the alternatives accept; otherwise it lists them.
func (s *state) noMatch(n *node, alts []*node, keyword string, start, end int) bool {
	var (
		union   typeSet
		untyped bool
	)
	for _, a := range alts {
		if a.resolve().never {
			continue // matches nothing, so says nothing about what to send
		}
		t := typesOf(a)
		untyped = untyped || t == 0
		union |= t
	}
	got := s.describeValue(start, end)
	at := "at " + where(s.pathString()) + ": expected "
	if !untyped && !union.allows(s.kindAt(start, end)) {
		exp := union.String()
		return s.violation(keyword, start, exp, got, at+exp+", got "+got)
	}
	exp := "one of: " + describeAll(alts)
	return s.violation(keyword, start, exp, got, at+exp+"; got "+got)
}

// typesOf returns the types a schema accepts, or 0 when it does not say.
func typesOf(n *node) typeSet {
	r := n.resolve()
	if r.types != 0 || r.enum == nil {
		return r.types
	}
	var t typeSet
	for _, c := range r.enum {
		t |= c.kind
	}
	return t
}

func describeAll(alts []*node) string {
	parts := make([]string, len(alts))
	for i, a := range alts {
		parts[i] = describe(a)
	}
	return strings.Join(parts, " | ")
}

// describe summarizes a schema for messages about alternatives, such as
// `Circle (object with required fields radius)` or `string or null`.
func describe(n *node) string {
	r := n.resolve()
	if r.isConst {
		return r.enum[0].text
	}
	if r.enum != nil {
		return "one of " + enumList(r.enum)
	}
	name := r.title
	if name == "" {
		for _, prefix := range []string{"#/$defs/", "#/definitions/"} {
			if rest, ok := strings.CutPrefix(r.ptr, prefix); ok && !strings.Contains(rest, "/") {
				name = strings.ReplaceAll(strings.ReplaceAll(rest, "~1", "/"), "~0", "~")
			}
		}
	}
	var desc string
	if r.types != 0 {
		desc = r.types.String()
	}
	if len(r.required) > 0 {
		names := make([]string, len(r.required))
		for i, k := range r.required {
			names[i] = r.keys[k].name
		}
		if desc != "" {
			desc += " "
		}
		desc += "with required fields " + strings.Join(names, ", ")
	}
	switch {
	case name != "" && desc != "":
		return name + " (" + desc + ")"
	case name != "":
		return name
	case desc != "":
		return desc
	case r.never:
		return "nothing"
	}
	return "the schema at " + r.ptr
}
