package schema

import (
	"strings"
)

// combinators applies allOf, anyOf, oneOf, not and if/then/else to the
// value at [start, end), which own has already scanned, so it is
// syntactically valid. Each alternative re-scans the value.
func (s *state) combinators(n *node, start, end int) bool {
	for _, b := range n.allOf {
		s.pos = start
		if !s.value(b) {
			return false
		}
	}
	if len(n.anyOf) > 0 {
		matched := false
		for _, b := range n.anyOf {
			if s.try(b, start) {
				matched = true
				break
			}
		}
		if !matched && !s.noMatch(n, n.anyOf, "anyOf", start, end) {
			return false
		}
	}
	if len(n.oneOf) > 0 {
		first, second := -1, -1
		for i, b := range n.oneOf {
			if s.try(b, start) {
				if first >= 0 {
					second = i
					break
				}
				first = i
			}
		}
		switch {
		case first < 0:
			if !s.noMatch(n, n.oneOf, "oneOf", start, end) {
				return false
			}
		case second >= 0:
			if s.quiet > 0 {
				return s.fail()
			}
			exp := "exactly one of: " + describeAll(n.oneOf)
			got := "a value matching both " + describe(n.oneOf[first]) + " and " + describe(n.oneOf[second])
			if !s.violation(n, "oneOf", start, end, exp, got, "at "+where(s.pathString())+": expected "+exp+"; got "+got) {
				return false
			}
		}
	}
	if n.not != nil && s.try(n.not, start) {
		if s.quiet > 0 {
			return s.fail()
		}
		exp := "a value not matching " + describe(n.not)
		got := s.describeValue(start, end)
		if !s.violation(n, "not", start, end, exp, got, "at "+where(s.pathString())+": expected "+exp+", got "+got) {
			return false
		}
	}
	if n.ifN != nil {
		branch := n.elseN
		if s.try(n.ifN, start) {
			branch = n.thenN
		}
		if branch != nil {
			s.pos = start
			if !s.value(branch) {
				return false
			}
		}
	}
	s.pos = end
	return true
}

// try reports whether the value at start matches n, without recording
// violations, and restores the state.
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

// noMatch reports that no alternative of an anyOf or oneOf matched. When
// exactly one alternative accepts the value's type, its own violations are
// the most useful account, so the value is validated against it aloud.
// Otherwise the message lists the alternatives.
func (s *state) noMatch(n *node, alts []*node, keyword string, start, end int) bool {
	if s.quiet > 0 {
		return s.fail()
	}
	kind := s.kindAt(start, end)
	var (
		fits    []*node
		union   typeSet
		untyped bool
	)
	for _, a := range alts {
		if a.resolve().never {
			continue // matches nothing, so says nothing about what to send
		}
		t := typesOf(a)
		if t == 0 {
			untyped = true
		}
		union |= t
		if t.allows(kind) {
			fits = append(fits, a)
		}
	}
	if len(fits) == 1 {
		s.pos = start
		ok := s.value(fits[0])
		s.pos = end
		return ok
	}
	got := s.describeValue(start, end)
	at := "at " + where(s.pathString()) + ": expected "
	if len(fits) == 0 && !untyped {
		exp := union.String()
		return s.violation(n, keyword, start, end, exp, got, at+exp+", got "+got)
	}
	exp := "one of: " + describeAll(alts)
	return s.violation(n, keyword, start, end, exp, got, at+exp+"; got "+got)
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
