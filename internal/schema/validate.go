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
		return s.violation("false", start, "no value", s.describeValue(start, s.pos),
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
	return s.violation("type", start, exp, got, "at "+where(s.pathString())+": expected "+exp+", got "+got)
}

// fail marks a quiet evaluation as failed and unwinds.
func (s *state) fail() bool {
	s.failed = true
	return false
}

// violation records a violation; when quiet it fails instead. Callers
// building expensive texts check s.quiet first. It returns true to go on.
func (s *state) violation(keyword string, start int, expected, got, msg string) bool {
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
