package schema

import (
	"strings"
)

// object validates an object against n's object keywords.
func (s *state) object(n *node) bool {
	if !s.enter() {
		return false
	}
	objStart := s.pos
	s.pos++ // '{'
	var seen0 uint64
	var seen []uint64
	seenBase := len(s.seen)
	if len(n.keys) > 64 {
		for range (len(n.keys) + 63) / 64 {
			s.seen = append(s.seen, 0)
		}
		seen = s.seen[seenBase:]
	}
	count := 0
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
	} else {
		for {
			if s.pos >= len(s.data) || s.data[s.pos] != '"' {
				return s.badChar(s.pos, "looking for beginning of object key string")
			}
			keyStart := s.pos
			esc, ok := s.scanString()
			if !ok {
				return false
			}
			keyEnd := s.pos - 1
			name := s.data[keyStart+1 : keyEnd]
			if esc {
				name = appendUnescaped(nil, name)
			}
			if !s.colon() {
				return false
			}
			idx := -1
			if len(n.keys) > 0 {
				idx = n.lookup(name)
			}
			if idx >= 0 {
				if seen != nil {
					seen[idx/64] |= 1 << (idx % 64)
				} else {
					seen0 |= 1 << idx
				}
			}
			if !s.member(n, idx, name, esc, keyStart, keyEnd) {
				return false
			}
			count++
			more, ok := s.next('}', "after object key:value pair")
			if !ok {
				return false
			}
			if !more {
				break
			}
		}
	}
	s.depth--
	end := s.pos
	for _, i := range n.required {
		var has bool
		if seen != nil {
			has = seen[i/64]&(1<<(i%64)) != 0
		} else {
			has = seen0&(1<<i) != 0
		}
		if !has && !s.missing(n.keys[i].name, objStart, end) {
			return false
		}
	}
	s.seen = s.seen[:seenBase]
	if n.minProps >= 0 && count < n.minProps {
		if !s.countViolation("minProperties", objStart, end, n.minProps, count) {
			return false
		}
	}
	if n.maxProps >= 0 && count > n.maxProps {
		if !s.countViolation("maxProperties", objStart, end, n.maxProps, count) {
			return false
		}
	}
	return s.enumCheck(n, objStart, tObject, false)
}

// member validates one object member's value, at s.pos, against the
// schemas that apply to its name: its property, every matching pattern
// property, or else additionalProperties.
func (s *state) member(n *node, idx int, name []byte, esc bool, keyStart, keyEnd int) bool {
	start := s.pos
	applied := 0
	apply := func(sub *node) bool {
		if applied > 0 {
			s.pos = start
		}
		applied++
		s.push(segment{start: keyStart + 1, end: keyEnd, index: -1, esc: esc})
		ok := s.value(sub)
		s.pop()
		return ok
	}
	if idx >= 0 && idx < n.nprops {
		if !apply(n.keys[idx].schema) {
			return false
		}
	}
	for _, p := range n.patterns {
		if p.re.Match(name) && !apply(p.schema) {
			return false
		}
	}
	if applied == 0 {
		switch {
		case n.noAdditional:
			if !s.unknown(n, name, keyStart) {
				return false
			}
		case n.additional != nil:
			return apply(n.additional)
		}
		return s.skip()
	}
	return true
}

// unknown records a member that additionalProperties: false forbids.
func (s *state) unknown(n *node, rawName []byte, keyStart int) bool {
	if s.quiet > 0 {
		return s.fail()
	}
	name := string(rawName)
	var sb strings.Builder
	sb.WriteString("unknown field ")
	sb.WriteString(quote(name))
	sb.WriteString(" at ")
	sb.WriteString(where(s.pathString()))
	known := make([]string, 0, n.nprops)
	for _, k := range n.keys[:n.nprops] {
		known = append(known, k.name)
	}
	var expected string
	switch {
	case len(known) > 0:
		const maxListed = 30
		list := known
		if len(list) > maxListed {
			list = list[:maxListed]
		}
		expected = "one of the fields " + strings.Join(list, ", ")
		sb.WriteString("; allowed fields: ")
		sb.WriteString(strings.Join(list, ", "))
		if len(known) > maxListed {
			sb.WriteString(", … (" + itoa(len(known)-maxListed) + " more)")
		}
		if len(n.patterns) > 0 {
			sb.WriteString(", or names matching ")
			sb.WriteString(patternList(n))
		}
		if sug := suggest(name, known); sug != "" {
			sb.WriteString(" (did you mean ")
			sb.WriteString(quote(sug))
			sb.WriteString("?)")
		}
	case len(n.patterns) > 0:
		expected = "field names matching " + patternList(n)
		sb.WriteString("; field names must match ")
		sb.WriteString(patternList(n))
	default:
		expected = "no fields"
		sb.WriteString("; no fields are allowed")
	}
	return s.violation("additionalProperties", keyStart, expected, "field "+quote(name), sb.String())
}

func patternList(n *node) string {
	parts := make([]string, len(n.patterns))
	for i, p := range n.patterns {
		parts[i] = p.re.String()
	}
	return strings.Join(parts, " or ")
}

// missing records a missing required member.
func (s *state) missing(name string, start, end int) bool {
	if s.quiet > 0 {
		return s.fail()
	}
	path := s.pathString()
	return s.violation("required", start, "field "+quote(name), s.describeValue(start, end),
		"missing required field "+quote(name)+" at "+where(path))
}
