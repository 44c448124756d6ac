package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text that a model, a tool or a user wrote reaches the terminal through
// show and tail. Raw, it could clear the screen (ESC [2J), rewrite the
// title or a line already printed (\r, OSC), plant hyperlinks (OSC 8),
// ring the bell, or reorder what the operator reads (bidi overrides).
// escapeText renders every such character visibly instead.

// escapeText returns s with its control characters written as Go-style
// escapes: C0 controls and DEL as \xNN (\x1b for ESC), C1 controls
// (U+0080 to U+009F) and the Unicode format characters that reorder or
// hide text (bidi embeddings, overrides and isolates, U+2028 and U+2029)
// as \uNNNN, and bytes that are not UTF-8 as \xNN. With keepLines, \n and
// \t stay as they are (a block of text); without, they are escaped too as
// \n and \t, so that the text keeps to one line. Backslashes are left
// alone: -json gives the exact text.
func escapeText(s string, keepLines bool) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size, keepLines) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case !needsEscape(r, size, keepLines):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

// needsEscape reports whether the rune r, size bytes long in its string,
// must be escaped.
func needsEscape(r rune, size int, keepLines bool) bool {
	switch {
	case r == utf8.RuneError && size == 1:
		return true // not UTF-8
	case r == '\n' || r == '\t':
		return !keepLines
	case r < 0x20 || r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	}
	return isHiddenFormat(r)
}

// isHiddenFormat reports whether r reorders or separates text invisibly:
// the bidi marks, embeddings, overrides and isolates, and the line and
// paragraph separators.
func isHiddenFormat(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x2028 && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// escapeJSON returns a JSON text with every character escapeText would
// escape but the C0 controls (which valid JSON has only between tokens)
// written as a JSON escape (\u009b, \u202e),
// and bytes that are not UTF-8 as \ufffd, which is what a JSON decoder
// makes of them. Valid JSON has such characters only inside strings, and
// there a \u escape means the same character, so the result decodes to
// the same value.
func escapeJSON(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x20 && needsEscape(r, size, true) {
			break
		}
		i += size
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r < 0x20 || !needsEscape(r, size, true):
			// Valid JSON has C0 controls only as space between tokens,
			// which show and tail compact away.
			out = append(out, b[i:i+size]...)
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		default:
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}
