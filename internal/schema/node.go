package schema

import (
	"math/big"
	"regexp"
	"strings"
)

// typeSet is a set of JSON Schema types, one bit each. The zero set means
// the schema has no "type" keyword: every type is allowed.
type typeSet uint8

const (
	tObject typeSet = 1 << iota
	tArray
	tString
	tNumber
	tInteger
	tBoolean
	tNull
)

// tLast is the last type bit; messages list types in bit order.
const tLast = tNull

// name returns the name of a single type.
func (s typeSet) name() string {
	switch s {
	case tObject:
		return "object"
	case tArray:
		return "array"
	case tString:
		return "string"
	case tNumber:
		return "number"
	case tInteger:
		return "integer"
	case tBoolean:
		return "boolean"
	case tNull:
		return "null"
	}
	return ""
}

// typeNamed returns the type with the given name, or 0.
func typeNamed(name string) typeSet {
	for t := typeSet(1); t <= tLast; t <<= 1 {
		if t.name() == name {
			return t
		}
	}
	return 0
}

// String renders a type set as "string", "string or null" or
// "object, array or null".
func (s typeSet) String() string {
	var names []string
	for t := typeSet(1); t <= tLast; t <<= 1 {
		if s&t != 0 {
			names = append(names, t.name())
		}
	}
	switch len(names) {
	case 0:
		return "any value"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// allows reports whether a value of kind k is allowed. Integers are numbers,
// so tNumber allows kInteger.
func (s typeSet) allows(k typeSet) bool {
	if s == 0 || s&k != 0 {
		return true
	}
	return k == tInteger && s&tNumber != 0
}

// node is a compiled schema. Nodes form a graph: $ref edges may point back
// up, which is how recursive Go types are represented. A node is read-only
// after Compile returns.
type node struct {
	ptr string // JSON pointer in the schema document, for describe and errors

	// never is set for the false schema and for a schema that can match
	// nothing (an empty enum).
	never bool

	// ref is the $ref target. When refOnly is set the node has no other
	// assertions and validation proceeds at ref directly.
	ref     *node
	refOnly bool

	types typeSet
	title string

	// Object keywords. keys holds every name listed in properties, then
	// required names that are not properties (as in oneOf groups of
	// required fields). Names in keys[:nprops] are properties.
	keys         []key
	nprops       int
	keyIndex     map[string]int // for objects with many keys
	required     []int          // indexes into keys, in "required" order
	patterns     []patternProp
	additional   *node // nil: any additional property is allowed
	noAdditional bool  // additionalProperties is false
	minProps     int   // -1: none
	maxProps     int   // -1: none
	hasObject    bool  // any object keyword is present

	// Array keywords.
	items    *node
	minItems int // -1: none
	maxItems int // -1: none
	unique   bool
	hasArray bool

	// String keywords.
	minLen    int // -1: none
	maxLen    int // -1: none
	pattern   *regexp.Regexp
	dateTime  bool
	base64    bool
	hasString bool

	// Number keywords.
	minimum, maximum, exclMin, exclMax *bound
	multipleOf                         *multiple
	hasNumber                          bool

	// Enum and const: the value must equal one of enum.
	enum    []*constant
	isConst bool

	// Combinators, applied to the same value as the node's own keywords.
	allOf, anyOf, oneOf []*node
	not                 *node
	ifN, thenN, elseN   *node
	combined            bool // any combinator, or a $ref with siblings
	ownless             bool // combined, and no keywords of its own
}

// key is a known object member name.
type key struct {
	name   string
	schema *node // nil for a required name that is not a property
}

// patternProp is one entry of patternProperties.
type patternProp struct {
	re     *regexp.Regexp
	schema *node
}

// bound is a numeric bound from minimum, maximum and their exclusive forms.
type bound struct {
	d    decimal
	text string
}

// multiple is a compiled multipleOf: the value must be an integer multiple
// of p/q.
type multiple struct {
	p, q     *big.Int
	small    bool // p and q fit in p64 and q64
	p64, q64 uint64
	text     string
}

// constant is one enum member (or the const value).
type constant struct {
	v    *jvalue
	kind typeSet
	num  decimal // for numbers
	text string  // rendered JSON, for messages
}

// resolve follows pure $ref nodes.
func (n *node) resolve() *node {
	for n.refOnly {
		n = n.ref
	}
	return n
}

// inPlace returns the schemas that apply to the same value as n: its $ref
// target, combinators and conditionals.
func (n *node) inPlace() []*node {
	if n.refOnly {
		return []*node{n.ref}
	}
	out := make([]*node, 0, len(n.allOf)+len(n.anyOf)+len(n.oneOf)+4)
	out = append(out, n.allOf...)
	out = append(out, n.anyOf...)
	out = append(out, n.oneOf...)
	for _, m := range []*node{n.not, n.ifN, n.thenN, n.elseN} {
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// lookup returns the index of the key name in n.keys, or -1.
func (n *node) lookup(name []byte) int {
	if n.keyIndex != nil {
		if i, ok := n.keyIndex[string(name)]; ok {
			return i
		}
		return -1
	}
	for i := range n.keys {
		if n.keys[i].name == string(name) {
			return i
		}
	}
	return -1
}
