package schema

import (
	"math/big"
	"math/bits"
)

// maxExp bounds the decimal exponents that decimal tracks exactly. Larger
// exponents saturate; such numbers still compare correctly against any
// bound a schema can reasonably hold.
const maxExp = 1 << 40

// decimal is an exact JSON number: sign × 0.D × 10^exp, where the digit
// string D is a followed by b (the significant digits of the integer and
// fraction parts of the literal, which they alias). D has no leading or
// trailing zeros; zero has no digits and is never negative. Comparing
// decimals is exact, unlike float64, so bounds on large integers and enum
// members like 0.1 behave as written, and parsing one does not allocate.
type decimal struct {
	neg  bool
	a, b []byte
	exp  int
}

// parseDecimal parses tok, a syntactically valid JSON number. The result
// aliases tok.
func parseDecimal(tok []byte) decimal {
	var d decimal
	i := 0
	if i < len(tok) && tok[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
		i++
	}
	a := tok[start:i]
	var b []byte
	if i < len(tok) && tok[i] == '.' {
		i++
		start = i
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
		b = tok[start:i]
	}
	e := 0
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		i++
		eneg := false
		if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
			eneg = tok[i] == '-'
			i++
		}
		for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
			if e < maxExp {
				e = e*10 + int(tok[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
	}
	exp := len(a) + e
	for len(a) > 0 && a[0] == '0' {
		a = a[1:]
		exp--
	}
	if len(a) == 0 {
		for len(b) > 0 && b[0] == '0' {
			b = b[1:]
			exp--
		}
	}
	for len(b) > 0 && b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		b = nil
		for len(a) > 0 && a[len(a)-1] == '0' {
			a = a[:len(a)-1]
		}
	}
	if len(a) == 0 && len(b) == 0 {
		return decimal{}
	}
	d.a, d.b = a, b
	d.exp = max(min(exp, maxExp), -maxExp)
	return d
}

// ndigits returns the number of significant digits.
func (d decimal) ndigits() int { return len(d.a) + len(d.b) }

// digit returns the i-th significant digit.
func (d decimal) digit(i int) byte {
	if i < len(d.a) {
		return d.a[i]
	}
	return d.b[i-len(d.a)]
}

// digits returns the significant digits as a string.
func (d decimal) digits() string { return string(d.a) + string(d.b) }

// isZero reports whether d is zero.
func (d decimal) isZero() bool { return d.ndigits() == 0 }

// isInteger reports whether d has no fractional part.
func (d decimal) isInteger() bool { return d.isZero() || d.exp >= d.ndigits() }

// equal reports whether d and e are the same number.
func (d decimal) equal(e decimal) bool {
	return d.neg == e.neg && d.exp == e.exp && d.cmpDigits(e) == 0
}

// cmpDigits compares the digit strings of d and e lexicographically.
func (d decimal) cmpDigits(e decimal) int {
	n, m := d.ndigits(), e.ndigits()
	for i := 0; i < n && i < m; i++ {
		if x, y := d.digit(i), e.digit(i); x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case n < m:
		return -1
	case n > m:
		return 1
	}
	return 0
}

// cmp returns -1, 0 or +1 as d is less than, equal to or greater than e.
func (d decimal) cmp(e decimal) int {
	ds, es := d.sign(), e.sign()
	if ds != es {
		if ds < es {
			return -1
		}
		return 1
	}
	if ds == 0 {
		return 0
	}
	c := 0
	switch {
	case d.exp < e.exp:
		c = -1
	case d.exp > e.exp:
		c = 1
	default:
		c = d.cmpDigits(e)
	}
	if d.neg {
		return -c
	}
	return c
}

func (d decimal) sign() int {
	switch {
	case d.isZero():
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// multipleOf reports whether d is an integer multiple of m = p/q, where
// p > 0 and q > 0 are in lowest terms. It never builds numbers much larger
// than d's literal, whatever d's exponent, and does not allocate when d
// has at most 19 digits and p and q fit in 64 bits.
func (d decimal) multipleOf(m *multiple) bool {
	if d.isZero() {
		return true
	}
	if m.small {
		if ok, done := d.multipleOfSmall(m.p64, m.q64); done {
			return ok
		}
	}
	p, q := m.p, m.q
	// d = n × 10^k with n the digits as an integer.
	n := new(big.Int)
	n.SetString(d.digits(), 10)
	k := d.exp - d.ndigits()
	nq := n.Mul(n, q)
	if k >= 0 {
		// d/m = n·q·10^k / p: an integer iff p divides n·q·10^k.
		r := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), p)
		r.Mul(r, nq.Mod(nq, p))
		return r.Mod(r, p).Sign() == 0
	}
	// d/m = n·q / (10^-k · p). The divisor is at least 10^-k, so once -k
	// exceeds the number of digits of n·q it cannot divide it.
	if -k > len(nq.String()) {
		return false
	}
	div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-k)), nil)
	div.Mul(div, p)
	return nq.Mod(nq, div).Sign() == 0
}

// rat returns d as a rational, or false when its exponent is too large to
// expand (over 10,000 digits).
func (d decimal) rat() (*big.Rat, bool) {
	if d.isZero() {
		return new(big.Rat), true
	}
	k := d.exp - d.ndigits()
	if k > 10000 || k < -10000 {
		return nil, false
	}
	n := new(big.Int)
	n.SetString(d.digits(), 10)
	if d.neg {
		n.Neg(n)
	}
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(k))), nil)
	if k >= 0 {
		return new(big.Rat).SetInt(n.Mul(n, pow)), true
	}
	return new(big.Rat).SetFrac(n, pow), true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// multipleOfSmall is multipleOf in uint64 arithmetic. done is false when
// the numbers do not fit.
func (d decimal) multipleOfSmall(p, q uint64) (ok, done bool) {
	nd := d.ndigits()
	if nd > 19 {
		return false, false
	}
	var n uint64
	for i := range nd {
		n = n*10 + uint64(d.digit(i)-'0')
	}
	k := d.exp - nd
	if k >= 0 {
		// p divides n·q·10^k.
		r := mulmod(n%p, q%p, p)
		return mulmod(r, powmod(10%p, k, p), p) == 0, true
	}
	// p·10^-k divides n·q.
	hi, nq := bits.Mul64(n, q)
	if hi != 0 {
		return false, false
	}
	div := p
	for range -k {
		h, l := bits.Mul64(div, 10)
		if h != 0 {
			return false, true // the divisor exceeds n·q, which is not 0
		}
		div = l
	}
	return nq%div == 0, true
}

// mulmod returns a·b mod m for a, b < m.
func mulmod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, r := bits.Div64(hi, lo, m)
	return r
}

// powmod returns b^e mod m for b < m.
func powmod(b uint64, e int, m uint64) uint64 {
	r := 1 % m
	for ; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = mulmod(r, b, m)
		}
		b = mulmod(b, b, m)
	}
	return r
}
