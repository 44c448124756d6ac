package schema

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxViolations is the most violations an Error lists. Validation goes on
// counting past it, into Error.Omitted.
const MaxViolations = 10

// RootPath is the Path of a violation at the top-level value.
const RootPath = "(root)"

// maxSnippet is the most bytes of an offending value quoted in a message.
const maxSnippet = 40

// Error is returned by Validator.Validate when the data is not valid JSON
// or does not match the schema. Its message is written for a language
// model that has to correct its output.
type Error struct {
	// Violations lists the problems found, in the order of the input: a
	// violation found inside a value comes before one found on the value as
	// a whole (such as a missing required field, found at the closing
	// brace). Invalid JSON yields exactly one violation, with Keyword
	// "syntax". There is at least one violation and at most MaxViolations.
	Violations []Violation
	// Omitted counts the violations found beyond MaxViolations.
	Omitted int
}

// Violation is one problem with the validated data.
type Violation struct {
	// Path locates the offending value: RootPath for the top-level value,
	// otherwise the member names and array indexes leading to it, as in
	// "items[2].name" (member "name" of element 2 of the top-level member
	// "items"; there is no "(root)" prefix). A member whose name is not an identifier
	// (ASCII letters, digits, '_' and '$', not starting with a digit) is
	// written as a quoted index: `tags["content-type"]` is the member
	// "content-type" of tags and `["0"]` is the member "0" of the root.
	// Path is empty for a syntax error.
	Path string
	// Keyword is the JSON Schema keyword that failed, such as "type",
	// "required", "additionalProperties", "enum", "minLength" or "anyOf";
	// "false" for a value where the schema allows none (the false schema,
	// an empty enum); "syntax" when the data is not valid JSON.
	Keyword string
	// Expected describes what the schema asks for, such as "integer" or
	// `one of "celsius", "fahrenheit"`.
	Expected string
	// Got describes what came: the kind and a short rendering of the
	// offending value, truncated with "…" after about 40 bytes. For a
	// syntax error it is the text around the error.
	Got string
	// Offset is the byte offset in the data where the offending value (or
	// object member, or syntax error) starts.
	Offset int
	// Message is the complete one-line description.
	Message string
}

// Error returns the violations' messages, one per line, followed by a
// line counting the omitted ones, if any.
func (e *Error) Error() string {
	if len(e.Violations) == 1 && e.Omitted == 0 {
		return e.Violations[0].Message
	}
	var sb strings.Builder
	for i, v := range e.Violations {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(v.Message)
	}
	if e.Omitted > 0 {
		sb.WriteString("\n(")
		sb.WriteString(strconv.Itoa(e.Omitted))
		sb.WriteString(" more violations not shown)")
	}
	return sb.String()
}

// segment is one step of the path to the value being validated: an object
// member, whose raw name (between the quotes) is data[start:end], or an
// array index. It holds offsets, not slices, so that storing it in the
// state does not make the state escape to the heap.
type segment struct {
	start, end int
	index      int // -1 for an object member
	esc        bool
}

// inlinePath is the path depth kept in the state's inline array.
const inlinePath = 16

func (s *state) push(seg segment) {
	if s.npath < inlinePath {
		s.path[s.npath] = seg
	} else {
		s.deepPath = append(s.deepPath[:s.npath-inlinePath], seg)
	}
	s.npath++
}

func (s *state) pop() { s.npath-- }

func (s *state) segment(i int) segment {
	if i < inlinePath {
		return s.path[i]
	}
	return s.deepPath[i-inlinePath]
}

// pathString renders the current path.
func (s *state) pathString() string {
	if s.npath == 0 {
		return RootPath
	}
	var sb strings.Builder
	for i := range s.npath {
		seg := s.segment(i)
		if seg.index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(seg.index))
			sb.WriteByte(']')
			continue
		}
		raw := s.data[seg.start:seg.end]
		name := string(raw)
		if seg.esc {
			name = string(appendUnescaped(nil, raw))
		}
		if isIdent(name) {
			if i > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(name)
			continue
		}
		sb.WriteByte('[')
		sb.WriteString(strconv.Quote(name))
		sb.WriteByte(']')
	}
	return sb.String()
}

// where renders a path for a message: in double quotes, or as is when it
// is (root) or holds quoted names already.
func where(path string) string {
	if path == RootPath || strings.Contains(path, `"`) {
		return path
	}
	return `"` + path + `"`
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '$':
		case c >= '0' && c <= '9':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// kindName names a kind for "got ..." texts.
func kindName(k typeSet) string {
	if k == tInteger {
		return "number"
	}
	return k.String()
}

// kindAt returns the kind of the syntactically valid value at start.
func (s *state) kindAt(start, end int) typeSet {
	switch c := s.data[start]; c {
	case '{':
		return tObject
	case '[':
		return tArray
	case '"':
		return tString
	case 't', 'f':
		return tBoolean
	case 'n':
		return tNull
	}
	for _, c := range s.data[start:end] {
		if c == '.' || c == 'e' || c == 'E' {
			if parseDecimal(s.data[start:end]).isInteger() {
				return tInteger
			}
			return tNumber
		}
	}
	return tInteger
}

// snippet renders the value at [start, end) compactly: whitespace outside
// strings is dropped and the text is cut after maxSnippet bytes.
func (s *state) snippet(start, end int) string {
	var sb strings.Builder
	inStr, esc := false, false
	for i := start; i < end; i++ {
		c := s.data[i]
		if !inStr && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			continue
		}
		if sb.Len() >= maxSnippet {
			return cutRune(sb.String()) + "…"
		}
		sb.WriteByte(c)
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		}
	}
	return sb.String()
}

// cutRune drops an incomplete UTF-8 sequence from the end of s.
func cutRune(s string) string {
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				return s[:i]
			}
			break
		}
	}
	return s
}

// describeValue renders "<kind> <snippet>", or just "null".
func (s *state) describeValue(start, end int) string {
	k := s.kindAt(start, end)
	if k == tNull {
		return "null"
	}
	return kindName(k) + " " + s.snippet(start, end)
}

// syntaxContext renders the text around a syntax error at off.
func syntaxContext(data []byte, off int) string {
	from := max(off-24, 0)
	to := min(off+16, len(data))
	for from > 0 && from < len(data) && !utf8.RuneStart(data[from]) {
		from--
	}
	for to < len(data) && !utf8.RuneStart(data[to]) {
		to++
	}
	text := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, string(data[from:to]))
	if from > 0 {
		text = "…" + text
	}
	if to < len(data) {
		text += "…"
	}
	return text
}

// suggest returns the known name closest to name, or "" when none is
// close: a case-insensitive match, or an edit distance of at most a third
// of the name's length (at least 1).
func suggest(name string, known []string) string {
	best, bestDist := "", len(name)/3
	if bestDist < 1 {
		bestDist = 1
	}
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	for _, k := range known {
		if d := editDistance(name, k, bestDist); d <= bestDist && (best == "" || d < editDistance(name, best, bestDist)) {
			best = k
		}
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b, or a
// value above limit once it is certain to exceed it.
func editDistance(a, b string, limit int) int {
	if abs(len(a)-len(b)) > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
