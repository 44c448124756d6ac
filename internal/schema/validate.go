package schema

import (
	"strings"
)

// state is one validation pass over the data. It lives on the stack of
// Validate. It must hold no pointer into itself or into other stack
// memory (the escape analysis would move it to the heap), hence the inline
// path array with a counter rather than a slice of it.
type state struct {
	data  []byte
	pos   int
	depth int

	// quiet > 0 while an anyOf, oneOf, not or if alternative is tried:
	// the first violation then sets failed and unwinds instead of being
	// recorded.
	quiet  int
	failed bool

	syntax bool // a syntax error was found
	synOff int
	synMsg string

	viols   []Violation
	omitted int

	path     [inlinePath]segment
	npath    int
	deepPath []segment // path segments beyond inlinePath
	seen     []uint64  // key bitsets of objects with more than 64 keys

	// Element spans of arrays with uniqueItems, as a stack: inline until
	// it outgrows spanArr, then in spanHeap.
	spanArr  [32]span
	nspan    int
	spanHeap []span
}

// span is the byte range of a value in the data.
type span struct{ start, end int }

func (s *state) pushSpan(sp span) {
	if s.spanHeap == nil && s.nspan < len(s.spanArr) {
		s.spanArr[s.nspan] = sp
	} else {
		if s.spanHeap == nil {
			s.spanHeap = append(make([]span, 0, 2*len(s.spanArr)), s.spanArr[:s.nspan]...)
		}
		s.spanHeap = append(s.spanHeap[:s.nspan], sp)
	}
	s.nspan++
}

// spanSlice returns the spans pushed since from.
func (s *state) spanSlice(from int) []span {
	if s.spanHeap != nil {
		return s.spanHeap[from:s.nspan]
	}
	return s.spanArr[from:s.nspan]
}

// Validate validates data, which must be a single JSON value with optional
// surrounding whitespace, against the schema. It returns nil when the data
// is valid, or an *Error listing up to MaxViolations violations. Invalid
// JSON (including empty input and data after the value) yields a single
// violation with Keyword "syntax"; schema violations are reported only for
// well-formed JSON.
func (v *Validator) Validate(data []byte) error {
	var s state
	s.data = data
	s.ws()
	if s.pos == len(data) {
		return &Error{Violations: []Violation{{
			Keyword:  "syntax",
			Expected: "a JSON value",
			Got:      "empty input",
			Message:  "invalid JSON: empty input",
		}}}
	}
	if s.value(v.root) {
		s.ws()
		if s.pos < len(data) {
			s.badChar(s.pos, "after top-level value")
		}
	}
	if s.syntax {
		got := syntaxContext(data, s.synOff)
		return &Error{Violations: []Violation{{
			Keyword:  "syntax",
			Expected: "valid JSON",
			Got:      got,
			Offset:   s.synOff,
			Message:  "invalid JSON at offset " + itoa(s.synOff) + ": " + s.synMsg + "; near: " + got,
		}}}
	}
	if len(s.viols) == 0 {
		return nil
	}
	return &Error{Violations: s.viols, Omitted: s.omitted}
}

// value validates the value at s.pos against n, leaving s.pos after it. It
// returns false to unwind: on a syntax error, or on a violation while quiet.
func (s *state) value(n *node) bool {
	n = n.resolve()
	if !n.combined {
		return s.own(n)
	}
	start := s.pos
	if n.ownless {
		return s.combinators(n, start, -1)
	}
	if !s.own(n) {
		return false
	}
	return s.combinators(n, start, s.pos)
}

// own validates the value at s.pos against n's own keywords, ignoring
// combinators.
func (s *state) own(n *node) bool {
	if s.pos >= len(s.data) {
		return s.eof()
	}
	start := s.pos
	c := s.data[start]
	if n.never {
		if !s.skip() {
			return false
		}
		if s.quiet > 0 {
			return s.fail()
		}
		return s.violation(n, "not", start, s.pos, "no value", s.describeValue(start, s.pos),
			"at "+where(s.pathString())+": no value is allowed here, got "+s.describeValue(start, s.pos))
	}
	switch {
	case c == '{':
		if !n.types.allows(tObject) {
			break
		}
		if !n.hasObject {
			if !s.skip() {
				return false
			}
			return s.enumCheck(n, start, tObject, false)
		}
		return s.object(n)
	case c == '[':
		if !n.types.allows(tArray) {
			break
		}
		if !n.hasArray {
			if !s.skip() {
				return false
			}
			return s.enumCheck(n, start, tArray, false)
		}
		return s.array(n)
	case c == '"':
		esc, ok := s.scanString()
		if !ok {
			return false
		}
		if !n.types.allows(tString) {
			return s.wrongType(n, start)
		}
		if n.hasString && !s.stringChecks(n, start, esc) {
			return false
		}
		return s.enumCheck(n, start, tString, esc)
	case c == '-' || (c >= '0' && c <= '9'):
		integer, ok := s.scanNumber()
		if !ok {
			return false
		}
		kind := tInteger
		if !integer && (n.types&tNumber == 0 || n.hasNumber || n.enum != nil) {
			if !parseDecimal(s.data[start:s.pos]).isInteger() {
				kind = tNumber
			}
		}
		if !n.types.allows(kind) {
			return s.wrongType(n, start)
		}
		if n.hasNumber && !s.numberChecks(n, start) {
			return false
		}
		return s.enumCheck(n, start, kind, false)
	case c == 't' || c == 'f':
		lit := "false"
		if c == 't' {
			lit = "true"
		}
		if !s.scanLiteral(lit) {
			return false
		}
		if !n.types.allows(tBoolean) {
			return s.wrongType(n, start)
		}
		return s.enumCheck(n, start, tBoolean, false)
	case c == 'n':
		if !s.scanLiteral("null") {
			return false
		}
		if !n.types.allows(tNull) {
			return s.wrongType(n, start)
		}
		return s.enumCheck(n, start, tNull, false)
	default:
		return s.badChar(start, "looking for beginning of value")
	}
	// An object or array of a type the schema does not allow.
	if !s.skip() {
		return false
	}
	return s.wrongType(n, start)
}

// wrongType records a type violation for the value at [start, s.pos).
func (s *state) wrongType(n *node, start int) bool {
	if s.quiet > 0 {
		return s.fail()
	}
	end := s.pos
	got := s.describeValue(start, end)
	exp := n.types.String()
	return s.violation(n, "type", start, end, exp, got, "at "+where(s.pathString())+": expected "+exp+", got "+got)
}

// fail marks a quiet evaluation as failed and unwinds.
func (s *state) fail() bool {
	s.failed = true
	return false
}

// violation records a violation; when quiet it fails instead. Callers
// building expensive texts check s.quiet first. It returns true to go on.
func (s *state) violation(_ *node, keyword string, start, _ int, expected, got, msg string) bool {
	if s.quiet > 0 {
		return s.fail()
	}
	if len(s.viols) >= MaxViolations {
		s.omitted++
		return true
	}
	if s.viols == nil {
		s.viols = make([]Violation, 0, 4)
	}
	s.viols = append(s.viols, Violation{
		Path:     s.pathString(),
		Keyword:  keyword,
		Expected: expected,
		Got:      got,
		Offset:   start,
		Message:  msg,
	})
	return true
}

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
		if !has && !s.missing(n, n.keys[i].name, objStart, end) {
			return false
		}
	}
	s.seen = s.seen[:seenBase]
	if n.minProps >= 0 && count < n.minProps {
		if !s.countViolation(n, "minProperties", objStart, end, n.minProps, count) {
			return false
		}
	}
	if n.maxProps >= 0 && count > n.maxProps {
		if !s.countViolation(n, "maxProperties", objStart, end, n.maxProps, count) {
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
		case n.noAdditonal:
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
	return s.violation(n, "additionalProperties", keyStart, keyStart, expected, "field "+quote(name), sb.String())
}

func patternList(n *node) string {
	parts := make([]string, len(n.patterns))
	for i, p := range n.patterns {
		parts[i] = p.re.String()
	}
	return strings.Join(parts, " or ")
}

// missing records a missing required member.
func (s *state) missing(n *node, name string, start, end int) bool {
	if s.quiet > 0 {
		return s.fail()
	}
	path := s.pathString()
	return s.violation(n, "required", start, end, "field "+quote(name), s.describeValue(start, end),
		"missing required field "+quote(name)+" at "+where(path))
}

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
		if !s.countViolation(n, "minItems", arrStart, end, n.minItems, count) {
			return false
		}
	}
	if n.maxItems >= 0 && count > n.maxItems {
		if !s.countViolation(n, "maxItems", arrStart, end, n.maxItems, count) {
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
			if !s.violation(n, "uniqueItems", arrStart, end, "array of unique items", got,
				"at "+where(s.pathString())+": expected array of unique items, got "+got) {
				return false
			}
		}
	}
	return s.enumCheck(n, arrStart, tArray, false)
}

// countViolation records a minItems, maxItems, minProperties or
// maxProperties violation.
func (s *state) countViolation(n *node, keyword string, start, end, limit, count int) bool {
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
	return s.violation(n, keyword, start, end, expected, got,
		"at "+where(s.pathString())+": expected "+expected+", got "+got)
}

func plural(n int, unit string) string {
	if n == 1 {
		return unit
	}
	return unit + "s"
}

func itoa(i int) string {
	if i >= 0 && i < 10 {
		return string(rune('0' + i))
	}
	var b [20]byte
	p := len(b)
	neg := i < 0
	u := uint64(i)
	if neg {
		u = uint64(-i)
	}
	for u > 0 {
		p--
		b[p] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		p--
		b[p] = '-'
	}
	return string(b[p:])
}

func quote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20:
			sb.WriteString(`\u00`)
			sb.WriteByte("0123456789abcdef"[r>>4])
			sb.WriteByte("0123456789abcdef"[r&0xf])
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
