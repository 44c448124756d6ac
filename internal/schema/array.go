package schema

import (
	"strings"
)

// array validates an array against n's array keywords.
func (s *state) array(n *node) bool {
	if !s.enter() {
		return false
	}
	arrStart := s.pos
	s.pos++ // '['
	spanBase := s.nspan
	count := 0
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
	} else {
		for {
			itemStart := s.pos
			var ok bool
			if n.items != nil {
				s.push(segment{index: count})
				ok = s.value(n.items)
				s.pop()
			} else {
				ok = s.skip()
			}
			if !ok {
				return false
			}
			if n.unique {
				s.pushSpan(span{itemStart, s.pos})
			}
			count++
			more, ok := s.next(']', "after array element")
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
	if n.minItems >= 0 && count < n.minItems {
		if !s.countViolation("minItems", arrStart, end, n.minItems, count) {
			return false
		}
	}
	if n.maxItems >= 0 && count > n.maxItems {
		if !s.countViolation("maxItems", arrStart, end, n.maxItems, count) {
			return false
		}
	}
	if n.unique {
		i, j := s.duplicate(s.spanSlice(spanBase))
		s.nspan = spanBase
		if i >= 0 && s.quiet > 0 {
			return s.fail()
		}
		if i >= 0 {
			got := "duplicate items at [" + itoa(i) + "] and [" + itoa(j) + "]"
			if !s.violation("uniqueItems", arrStart, "array of unique items", got,
				"at "+where(s.pathString())+": expected array of unique items, got "+got) {
				return false
			}
		}
	}
	return s.enumCheck(n, arrStart, tArray, false)
}

// countViolation records a minItems, maxItems, minProperties or
// maxProperties violation.
func (s *state) countViolation(keyword string, start, end, limit, count int) bool {
	if s.quiet > 0 {
		return s.fail()
	}
	var expected, got string
	switch keyword {
	case "minItems":
		expected = "array of length >= " + itoa(limit)
	case "maxItems":
		expected = "array of length <= " + itoa(limit)
	case "minProperties":
		expected = "object with at least " + itoa(limit) + plural(limit, " field")
	default:
		expected = "object with at most " + itoa(limit) + plural(limit, " field")
	}
	if strings.HasSuffix(keyword, "Items") {
		got = "array of length " + itoa(count)
	} else {
		got = "object with " + itoa(count) + plural(count, " field")
	}
	return s.violation(keyword, start, expected, got,
		"at "+where(s.pathString())+": expected "+expected+", got "+got)
}
