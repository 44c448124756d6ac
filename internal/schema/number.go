package schema

import (
	"bytes"
	"math/big"
)

// maxExp bounds the decimal exponents that decimal tracks exactly. Larger
// exponents saturate; such numbers still compare correctly against any
// bound a schema can reasonably hold.
const maxExp = 1 << 40

// decimal is an exact JSON number: sign × 0.digits × 10^exp. digits holds
// ASCII digits with no leading or trailing zeros; zero has no digits and is
// never negative. Comparing decimals is exact, unlike float64, so bounds on
// large integers and enum members like 0.1 behave as written.
type decimal struct {
	neg    bool
	digits []byte
	exp    int
}

// parseDecimal parses tok, a syntactically valid JSON number, appending its
// digits to buf. It returns the decimal, whose digits alias buf, and the
// grown buf.
func parseDecimal(tok, buf []byte) (decimal, []byte) {
	var d decimal
	i := 0
	if i < len(tok) && tok[i] == '-' {
		d.neg = true
		i++
	}
	start := len(buf)
	intDigits := 0
	for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
		buf = append(buf, tok[i])
		intDigits++
	}
	if i < len(tok) && tok[i] == '.' {
		i++
		for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
			buf = append(buf, tok[i])
		}
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
	digits := buf[start:]
	exp := intDigits + e
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
		exp--
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return decimal{}, buf
	}
	d.digits = digits
	d.exp = max(min(exp, maxExp), -maxExp)
	return d, buf
}

// isZero reports whether d is zero.
func (d decimal) isZero() bool { return len(d.digits) == 0 }

// isInteger reports whether d has no fractional part.
func (d decimal) isInteger() bool { return d.isZero() || d.exp >= len(d.digits) }

// equal reports whether d and e are the same number.
func (d decimal) equal(e decimal) bool {
	return d.neg == e.neg && d.exp == e.exp && bytes.Equal(d.digits, e.digits)
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
		c = bytes.Compare(d.digits, e.digits)
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
// than d's literal, whatever d's exponent.
func (d decimal) multipleOf(p, q *big.Int) bool {
	if d.isZero() {
		return true
	}
	// d = n × 10^k with n the digits as an integer.
	n := new(big.Int)
	n.SetString(string(d.digits), 10)
	k := d.exp - len(d.digits)
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
	k := d.exp - len(d.digits)
	if k > 10000 || k < -10000 {
		return nil, false
	}
	n := new(big.Int)
	n.SetString(string(d.digits), 10)
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
