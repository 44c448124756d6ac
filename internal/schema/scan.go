package schema

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of arrays and objects accepted, the same
// limit encoding/json applies.
const maxDepth = 10000

// This file holds the syntax half of the validator: a hand-rolled scanner
// that accepts exactly what encoding/json accepts (json.Valid), with the
// same wording for errors. Each scan function returns false after
// recording a syntax error in the state.

// ws skips JSON whitespace.
func (s *state) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// syntaxError records a syntax error at off. It always returns false.
func (s *state) syntaxError(off int, msg string) bool {
	if !s.syntax {
		s.syntax = true
		s.synOff = off
		s.synMsg = msg
	}
	return false
}

// badChar records "invalid character 'c' <context>" at off.
func (s *state) badChar(off int, context string) bool {
	if off >= len(s.data) {
		return s.eof()
	}
	return s.syntaxError(off, "invalid character "+quoteChar(s.data[off])+" "+context)
}

// eof records an unexpected end of input.
func (s *state) eof() bool {
	return s.syntaxError(len(s.data), "unexpected end of JSON input")
}

// quoteChar formats c the way encoding/json's scanner does.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	q := strconv.Quote(string(rune(c)))
	return "'" + q[1:len(q)-1] + "'"
}

// skip scans one value of any type, checking only its syntax. s.pos must
// be at the value (whitespace skipped).
func (s *state) skip() bool {
	if s.pos >= len(s.data) {
		return s.eof()
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.skipObject()
	case c == '[':
		return s.skipArray()
	case c == '"':
		_, ok := s.scanString()
		return ok
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok := s.scanNumber()
		return ok
	case c == 't':
		return s.scanLiteral("true")
	case c == 'f':
		return s.scanLiteral("false")
	case c == 'n':
		return s.scanLiteral("null")
	}
	return s.badChar(s.pos, "looking for beginning of value")
}

func (s *state) enter() bool {
	s.depth++
	if s.depth > maxDepth {
		return s.syntaxError(s.pos, "exceeded max depth")
	}
	return true
}

func (s *state) skipObject() bool {
	if !s.enter() {
		return false
	}
	s.pos++ // '{'
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return true
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.badChar(s.pos, "looking for beginning of object key string")
		}
		if _, ok := s.scanString(); !ok {
			return false
		}
		if !s.colon() {
			return false
		}
		if !s.skip() {
			return false
		}
		more, ok := s.next('}', "after object key:value pair")
		if !ok {
			return false
		}
		if !more {
			s.depth--
			return true
		}
	}
}

func (s *state) skipArray() bool {
	if !s.enter() {
		return false
	}
	s.pos++ // '['
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return true
	}
	for {
		if !s.skip() {
			return false
		}
		more, ok := s.next(']', "after array element")
		if !ok {
			return false
		}
		if !more {
			s.depth--
			return true
		}
	}
}

// colon scans the ':' after an object key and the whitespace around it.
func (s *state) colon() bool {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		return s.badChar(s.pos, "after object key")
	}
	s.pos++
	s.ws()
	return true
}

// next scans the ',' or the closing delimiter after an element. It reports
// more=true after a ',' (with the whitespace after it skipped).
func (s *state) next(closing byte, context string) (more, ok bool) {
	s.ws()
	if s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.ws()
			return true, true
		case closing:
			s.pos++
			return false, true
		}
	}
	return false, s.badChar(s.pos, context)
}

// scanString scans a string starting at the opening quote, leaving s.pos
// after the closing quote. esc reports whether it holds escapes.
func (s *state) scanString() (esc, ok bool) {
	data := s.data
	i := s.pos + 1
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return esc, true
		case c == '\\':
			esc = true
			i++
			if i >= len(data) {
				return esc, s.eof()
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				i++
				for j := 0; j < 4; j++ {
					if i >= len(data) {
						return esc, s.eof()
					}
					if !isHex(data[i]) {
						return esc, s.badChar(i, `in \u hexadecimal character escape`)
					}
					i++
				}
			default:
				return esc, s.badChar(i, "in string escape code")
			}
		case c < 0x20:
			return esc, s.badChar(i, "in string literal")
		default:
			i++
		}
	}
	return esc, s.eof()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// scanNumber scans a number. integer reports that it has neither a
// fraction nor an exponent.
func (s *state) scanNumber() (integer, ok bool) {
	data := s.data
	i := s.pos
	if data[i] == '-' {
		i++
		if i >= len(data) {
			return false, s.eof()
		}
		if data[i] < '0' || data[i] > '9' {
			return false, s.badChar(i, "in numeric literal")
		}
	}
	if data[i] == '0' {
		i++
	} else {
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	integer = true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		if i >= len(data) {
			return false, s.eof()
		}
		if data[i] < '0' || data[i] > '9' {
			return false, s.badChar(i, "after decimal point in numeric literal")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) {
			return false, s.eof()
		}
		if data[i] < '0' || data[i] > '9' {
			return false, s.badChar(i, "in exponent of numeric literal")
		}
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return integer, true
}

// scanLiteral scans true, false or null.
func (s *state) scanLiteral(lit string) bool {
	for j := 1; j < len(lit); j++ {
		i := s.pos + j
		if i >= len(s.data) {
			return s.eof()
		}
		if s.data[i] != lit[j] {
			return s.badChar(i, "in literal "+lit+" (expecting "+quoteChar(lit[j])+")")
		}
	}
	s.pos += len(lit)
	return true
}

// appendUnescaped appends the text of raw, the content of a syntactically
// valid JSON string between its quotes, to dst. Like encoding/json it turns
// an unpaired surrogate escape into U+FFFD.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2 = hex4(raw[i+3:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[i])
		}
		i++
	}
	return dst
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// runeCount returns the number of code points in the text of raw, the
// content of a syntactically valid JSON string, as decoded by
// encoding/json: an escape is one code point, a surrogate pair escape is
// one, and each byte of invalid UTF-8 is one (it decodes to U+FFFD).
func runeCount(raw []byte, esc bool) int {
	if !esc {
		return utf8.RuneCount(raw)
	}
	n := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && raw[i+1] == 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) && i+5 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' &&
				utf16.DecodeRune(r, hex4(raw[i+2:])) != utf8.RuneError {
				i += 6
			}
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			_, size := utf8.DecodeRune(raw[i:])
			i += size
		}
		n++
	}
	return n
}
