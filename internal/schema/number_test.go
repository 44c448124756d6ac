package schema

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestDecimal(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in      string
		digits  string
		exp     int
		neg     bool
		integer bool
	}{
		{"0", "", 0, false, true},
		{"-0", "", 0, false, true},
		{"0.000", "", 0, false, true},
		{"0e10", "", 0, false, true},
		{"1", "1", 1, false, true},
		{"-1", "1", 1, true, true},
		{"10", "1", 2, false, true},
		{"100.00", "1", 3, false, true},
		{"3.0", "3", 1, false, true},
		{"3.5", "35", 1, false, false},
		{"0.001", "1", -2, false, false},
		{"0.0010", "1", -2, false, false},
		{"1e2", "1", 3, false, true},
		{"1.5e1", "15", 2, false, true},
		{"100e-2", "1", 1, false, true},
		{"1E-2", "1", -1, false, false},
		{"123.456e+3", "123456", 6, false, true},
		{"123.456e+2", "123456", 5, false, false},
		{"1e400", "1", 401, false, true},
		{"1e99999999999999999999", "1", maxExp, false, true},
		{"1e-99999999999999999999", "1", -maxExp, false, false},
	}
	for _, tt := range tests {
		d := parseDecimal([]byte(tt.in))
		require.Equal(t, tt.digits, d.digits(), tt.in)
		require.Equal(t, tt.exp, d.exp, tt.in)
		require.Equal(t, tt.neg, d.neg, tt.in)
		require.Equal(t, tt.integer, d.isInteger(), tt.in)
	}
}

// TestDecimalAgainstRat compares decimal comparisons and multipleOf with
// math/big on every pair of a set of numbers.
func TestDecimalAgainstRat(t *testing.T) {
	t.Parallel()

	nums := []string{
		"0", "-0", "1", "-1", "0.1", "0.10", "1e-1", "-0.1", "0.3", "0.30000000000000004",
		"2", "2.5", "-2.5", "25e-1", "3", "7", "14", "21e0", "9007199254740992", "9007199254740993",
		"1e20", "100000000000000000000", "1.00000000000000000001e20", "-1e20", "0.01", "19.99", "19.999",
		"123456789012345678901234567890", "1.5", "0.5", "-7e-3", "1e-20", "0.0001", "300000", "3e5",
		"12345678901234567890", "1234567890123456789", "18446744073709551615", "18446744073709551616e-3",
	}
	rat := func(s string) *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		require.True(t, ok, s)
		return r
	}
	for _, a := range nums {
		da, ra := parseDecimal([]byte(a)), rat(a)
		require.Equal(t, ra.IsInt(), da.isInteger(), a)
		for _, b := range nums {
			db, rb := parseDecimal([]byte(b)), rat(b)
			require.Equal(t, ra.Cmp(rb), da.cmp(db), "%s cmp %s", a, b)
			require.Equal(t, ra.Cmp(rb) == 0, da.equal(db), "%s == %s", a, b)
			if rb.Sign() > 0 {
				q := new(big.Rat).Quo(ra, rb)
				m, err := (&compiler{}).multiple(&jvalue{kind: jNumber, s: b}, "#")
				require.NoError(t, err)
				require.Equal(t, q.IsInt(), da.multipleOf(m), "%s multipleOf %s", a, b)
				big := *m
				big.small = false
				require.Equal(t, q.IsInt(), da.multipleOf(&big), "%s multipleOf %s (big.Int)", a, b)
			}
		}
	}
}

// TestUnescape compares appendUnescaped and runeCount with encoding/json.
func TestUnescape(t *testing.T) {
	t.Parallel()

	for _, s := range []string{
		``, `a`, `\"\\\/\b\f\n\r\t`, `\u0041\u00e9\u4e16`, `\ud83d\ude00`, `\ud83d`, `\ude00`, `\ud83dx`,
		`\ud83d\u0041`, `\ud83d\ud83d\ude00`, `a\ud83d`, `\ud83d\ude0`, "é世😀", "\xff\xfe", "a\xffb\\n",
		`\u0000`, `x\\u0041`,
	} {
		checkUnescape(t, []byte(s))
	}
}

func checkUnescape(t *testing.T, raw []byte) {
	t.Helper()
	quoted := append(append([]byte{'"'}, raw...), '"')
	if !json.Valid(quoted) {
		return
	}
	var want string
	require.NoError(t, json.Unmarshal(quoted, &want))
	esc := strings.ContainsRune(string(raw), '\\')
	got := appendUnescaped(nil, raw)
	if utf8.Valid(raw) {
		// encoding/json also replaces invalid UTF-8; Validate keeps the raw
		// bytes, which count and match the same way.
		require.Equal(t, want, string(got), "%q", raw)
	}
	require.Equal(t, utf8.RuneCountInString(want), runeCount(raw, esc), "%q", raw)
}

// FuzzUnescape checks string decoding and code point counting against
// encoding/json.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\n`, `\ud83d\ude00`, `\ud83d`, "é\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkUnescape)
}
