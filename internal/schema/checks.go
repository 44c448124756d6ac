package schema

import (
	"bytes"
	"encoding/base64"
	"sort"
	"strings"
	"time"
)

// dateTimeExample is shown in messages about date-time strings.
const dateTimeExample = "2006-01-02T15:04:05Z"

// stringChecks applies the string keywords to the string at
// [start, s.pos), which has escapes if esc.
func (s *state) stringChecks(n *node, start int, esc bool) bool {
	end := s.pos
	raw := s.data[start+1 : end-1]
	length := -1
	if n.minLen >= 0 || n.maxLen >= 0 {
		length = runeCount(raw, esc)
	}
	str := raw
	if esc && (n.pattern != nil || n.base64) {
		str = appendUnescaped(nil, raw)
	}
	tooShort := n.minLen >= 0 && length < n.minLen
	tooLong := n.maxLen >= 0 && length > n.maxLen
	noMatch := n.pattern != nil && !n.pattern.Match(str)
	badTime := false
	if n.dateTime {
		// time.Time's own parser on the raw text, as time.Time's
		// UnmarshalJSON does (it does not unescape), so that a value that
		// passes also decodes into a time.Time.
		var t time.Time
		badTime = t.UnmarshalText(raw) != nil || !validOffset(raw)
	}
	badBase64 := n.base64 && !validBase64(str)
	if !(tooShort || tooLong || noMatch || badTime || badBase64) {
		return true
	}
	if s.quiet > 0 {
		return s.fail()
	}
	got := s.snippet(start, end)
	at := "at " + where(s.pathString()) + ": expected "
	report := func(keyword, expected, got string) bool {
		return s.violation(keyword, start, expected, got, at+expected+", got "+got)
	}
	if tooShort {
		report("minLength", "string of length >= "+itoa(n.minLen), got+" (length "+itoa(length)+")")
	}
	if tooLong {
		report("maxLength", "string of length <= "+itoa(n.maxLen), got+" (length "+itoa(length)+")")
	}
	if noMatch {
		report("pattern", "string matching "+n.pattern.String(), got)
	}
	if badTime {
		report("format", "date-time string (RFC 3339, such as "+dateTimeExample+")", got)
	}
	if badBase64 {
		report("contentEncoding", "base64-encoded string", got)
	}
	return true
}

// validOffset reports whether the zone offset of a date-time that
// time.Time parsed is within RFC 3339's range: time.Time also takes an
// hour of 24 and a minute of 60.
func validOffset(raw []byte) bool {
	n := len(raw)
	if n < 6 || raw[n-1] == 'Z' || (raw[n-6] != '+' && raw[n-6] != '-') {
		return true
	}
	hour := int(raw[n-5]-'0')*10 + int(raw[n-4]-'0')
	minute := int(raw[n-2]-'0')*10 + int(raw[n-1]-'0')
	return hour <= 23 && minute <= 59
}

// validBase64 reports whether encoding/json would decode b into a []byte:
// standard base64 with padding, ignoring CR and LF.
func validBase64(b []byte) bool {
	var tmp [512]byte
	dst := tmp[:]
	if n := base64.StdEncoding.DecodedLen(len(b)); n > len(dst) {
		dst = make([]byte, n)
	}
	_, err := base64.StdEncoding.Decode(dst, b)
	return err == nil
}

// numberChecks applies the numeric keywords to the number at [start, s.pos).
func (s *state) numberChecks(n *node, start int) bool {
	end := s.pos
	d := parseDecimal(s.data[start:end])
	tooSmall := n.minimum != nil && d.cmp(n.minimum.d) < 0
	notAbove := n.exclMin != nil && d.cmp(n.exclMin.d) <= 0
	tooBig := n.maximum != nil && d.cmp(n.maximum.d) > 0
	notBelow := n.exclMax != nil && d.cmp(n.exclMax.d) >= 0
	notMultiple := n.multipleOf != nil && !d.multipleOf(n.multipleOf)
	if !(tooSmall || notAbove || tooBig || notBelow || notMultiple) {
		return true
	}
	if s.quiet > 0 {
		return s.fail()
	}
	noun := "number "
	if n.types == tInteger {
		noun = "integer "
	}
	got := s.snippet(start, end)
	at := "at " + where(s.pathString()) + ": expected "
	report := func(keyword, expected string) {
		s.violation(keyword, start, expected, got, at+expected+", got "+got)
	}
	if tooSmall {
		report("minimum", noun+">= "+n.minimum.text)
	}
	if notAbove {
		report("exclusiveMinimum", noun+"> "+n.exclMin.text)
	}
	if tooBig {
		report("maximum", noun+"<= "+n.maximum.text)
	}
	if notBelow {
		report("exclusiveMaximum", noun+"< "+n.exclMax.text)
	}
	if notMultiple {
		report("multipleOf", "multiple of "+n.multipleOf.text)
	}
	return true
}

// enumCheck applies enum and const to the value at [start, s.pos) of the
// given kind.
func (s *state) enumCheck(n *node, start int, kind typeSet, esc bool) bool {
	if n.enum == nil {
		return true
	}
	end := s.pos
	raw := s.data[start:end]
	var (
		d         decimal
		parsedNum bool
		parsed    *jvalue
		unescaped []byte
	)
	for _, c := range n.enum {
		switch kind {
		case tString:
			if c.kind != tString {
				continue
			}
			str := raw[1 : len(raw)-1]
			if esc {
				if unescaped == nil {
					unescaped = appendUnescaped(nil, str)
				}
				str = unescaped
			}
			if string(str) == c.v.s {
				return true
			}
		case tInteger, tNumber:
			if c.kind != tInteger && c.kind != tNumber {
				continue
			}
			if !parsedNum {
				d = parseDecimal(raw)
				parsedNum = true
			}
			if d.equal(c.num) {
				return true
			}
		case tBoolean:
			if c.kind == tBoolean && c.v.b == (raw[0] == 't') {
				return true
			}
		case tNull:
			if c.kind == tNull {
				return true
			}
		default:
			if c.kind != kind {
				continue
			}
			if parsed == nil {
				parsed, _ = parseDocument(raw)
			}
			if parsed != nil && jEqual(parsed, c.v) {
				return true
			}
		}
	}
	if s.quiet > 0 {
		return s.fail()
	}
	got := s.snippet(start, end)
	at := "at " + where(s.pathString()) + ": "
	if n.isConst {
		exp := n.enum[0].text
		return s.violation("const", start, exp, got, at+"expected "+exp+", got "+got)
	}
	exp := "one of " + enumList(n.enum)
	return s.violation("enum", start, exp, got, at+got+" is not "+exp)
}

// enumList renders enum members for messages: `"a", "b"`.
func enumList(enum []*constant) string {
	const maxListed = 30
	parts := make([]string, 0, min(len(enum), maxListed)+1)
	for i, c := range enum {
		if i == maxListed {
			parts = append(parts, "… ("+itoa(len(enum)-maxListed)+" more)")
			break
		}
		parts = append(parts, c.text)
	}
	return strings.Join(parts, ", ")
}

// duplicate returns the indexes of the first two equal elements among
// spans, or -1, -1.
func (s *state) duplicate(spans []span) (int, int) {
	if len(spans) > 32 {
		seen := make(map[string]int, len(spans))
		for j, sp := range spans {
			v, err := parseDocument(s.data[sp.start:sp.end])
			if err != nil {
				continue
			}
			key := canonical(v)
			if i, ok := seen[key]; ok {
				return i, j
			}
			seen[key] = j
		}
		return -1, -1
	}
	for j := 1; j < len(spans); j++ {
		for i := 0; i < j; i++ {
			if s.rawEqual(s.data[spans[i].start:spans[i].end], s.data[spans[j].start:spans[j].end]) {
				return i, j
			}
		}
	}
	return -1, -1
}

// rawEqual reports whether two syntactically valid JSON values are equal
// as JSON values: numbers by value, objects regardless of member order.
func (s *state) rawEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	ka, kb := a[0], b[0]
	isNum := func(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }
	switch {
	case isNum(ka) && isNum(kb):
		return parseDecimal(a).equal(parseDecimal(b))
	case ka != kb:
		return false
	case ka == '"' && bytes.IndexByte(a, '\\') < 0 && bytes.IndexByte(b, '\\') < 0:
		return false
	case ka == 't' || ka == 'f' || ka == 'n':
		return false
	}
	va, errA := parseDocument(a)
	vb, errB := parseDocument(b)
	return errA == nil && errB == nil && jEqual(va, vb)
}

// jEqual reports whether two parsed values are equal as JSON values.
func jEqual(a, b *jvalue) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case jNull:
		return true
	case jBool:
		return a.b == b.b
	case jString:
		return a.s == b.s
	case jNumber:
		return parseDecimal([]byte(a.s)).equal(parseDecimal([]byte(b.s)))
	case jArray:
		if len(a.arr) != len(b.arr) {
			return false
		}
		for i := range a.arr {
			if !jEqual(a.arr[i], b.arr[i]) {
				return false
			}
		}
		return true
	default:
		if len(a.obj) != len(b.obj) {
			return false
		}
		for _, m := range a.obj {
			o := b.get(m.key)
			if o == nil || !jEqual(m.val, o) {
				return false
			}
		}
		return true
	}
}

// canonical renders v so that equal JSON values render equally.
func canonical(v *jvalue) string {
	var sb strings.Builder
	writeCanonical(&sb, v)
	return sb.String()
}

func writeCanonical(sb *strings.Builder, v *jvalue) {
	switch v.kind {
	case jNumber:
		d := parseDecimal([]byte(v.s))
		if d.neg {
			sb.WriteByte('-')
		}
		sb.WriteString("0.")
		sb.WriteString(d.digits())
		sb.WriteString("e")
		sb.WriteString(itoa(d.exp))
	case jArray:
		sb.WriteByte('[')
		for _, e := range v.arr {
			writeCanonical(sb, e)
			sb.WriteByte(',')
		}
		sb.WriteByte(']')
	case jObject:
		members := append([]jmember(nil), v.obj...)
		sort.Slice(members, func(i, j int) bool { return members[i].key < members[j].key })
		sb.WriteByte('{')
		for _, m := range members {
			sb.WriteString(quote(m.key))
			sb.WriteByte(':')
			writeCanonical(sb, m.val)
			sb.WriteByte(',')
		}
		sb.WriteByte('}')
	default:
		v.render(sb)
	}
}
