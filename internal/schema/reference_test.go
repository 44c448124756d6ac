package schema

import (
	"encoding/json"
	"math/big"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// refSchema uses every keyword the reference validator implements.
const refSchema = `{
	"$defs": {"T": {
		"type": "object",
		"properties": {
			"s": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]*$"},
			"n": {"type": ["number", "null"], "minimum": -5, "exclusiveMaximum": 10, "multipleOf": 0.5},
			"i": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100},
			"e": {"enum": ["a", 1, null, [1], {"k": true}]},
			"c": {"const": 2.0},
			"arr": {"type": "array", "items": {"$ref": "#/$defs/T"}, "maxItems": 3, "uniqueItems": true},
			"m": {"type": "object", "additionalProperties": {"type": "integer"}, "patternProperties": {"^x": {"type": "string"}}, "minProperties": 1, "maxProperties": 3},
			"alt": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1}]},
			"one": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]},
			"no": {"not": {"type": "object"}},
			"cond": {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
			"all": {"allOf": [{"$ref": "#/$defs/T"}, {"required": ["i"]}]}
		},
		"required": ["s"],
		"additionalProperties": false
	}},
	"anyOf": [{"$ref": "#/$defs/T"}, {"type": "array", "items": {"$ref": "#/$defs/T"}}]
}`

func refSeeds() []string {
	return []string{
		`{"s":"a"}`,
		`{"s":"abc","n":9.5,"i":100,"e":[1],"c":2,"alt":"x","one":-1,"no":[],"cond":"ab"}`,
		`{"s":"a","n":null,"e":{"k":true},"m":{"x1":"s","b":2},"one":1.5,"cond":3}`,
		`[{"s":"a","arr":[{"s":"b"},{"s":"c","all":{"s":"d","i":1}}]},{"s":"z"}]`,
		`{"s":"ABC"}`, `{"s":""}`, `{"s":"abcdef"}`, `{"s":"a","n":10}`, `{"s":"a","n":0.25}`,
		`{"s":"a","i":0}`, `{"s":"a","i":1.5}`, `{"s":"a","e":"b"}`, `{"s":"a","c":2.5}`,
		`{"s":"a","arr":[{"s":"a"},{"s":"a"}]}`, `{"s":"a","m":{}}`, `{"s":"a","m":{"x":1}}`,
		`{"s":"a","alt":[]}`, `{"s":"a","one":1}`, `{"s":"a","no":{}}`, `{"s":"a","cond":"x"}`,
		`{"s":"a","cond":1.5}`, `{"s":"a","all":{"s":"b"}}`, `{"t":1}`, `[]`, `[1]`, `5`,
	}
}

// TestReference compares Validate with the reference validator on the
// seeds; FuzzValidate does so on everything it generates.
func TestReference(t *testing.T) {
	t.Parallel()

	v := compile(t, refSchema)
	for _, s := range append(refSeeds(), fuzzSeeds()...) {
		checkReference(t, v, []byte(s))
	}
}

// checkReference checks that Validate accepts data exactly when the
// reference validator does. It skips data that is not valid JSON, has
// duplicate keys or invalid UTF-8, where the reference (which decodes)
// cannot see what Validate sees.
func checkReference(t *testing.T, v *Validator, data []byte) {
	t.Helper()
	if !json.Valid(data) || !utf8.Valid(data) {
		return
	}
	doc, err := parseDocument(data)
	if err != nil {
		return // duplicate keys
	}
	want := refValid(v.root, doc)
	err = v.Validate(data)
	require.Equal(t, want, err == nil, "input %s: reference says valid=%v, Validate says %v", data, want, err)
}

// refValid is a plain reference implementation of the keywords, over the
// decoded document: slow, allocating, and simple enough to trust.
func refValid(n *node, v *jvalue) bool {
	n = n.resolve()
	if n.never {
		return false
	}
	kind := refKind(v)
	if !n.types.allows(kind) {
		return false
	}
	if n.enum != nil {
		found := false
		for _, c := range n.enum {
			found = found || jEqual(c.v, v)
		}
		if !found {
			return false
		}
	}
	switch v.kind {
	case jObject:
		if !refObject(n, v) {
			return false
		}
	case jArray:
		if n.items != nil {
			for _, e := range v.arr {
				if !refValid(n.items, e) {
					return false
				}
			}
		}
		if (n.minItems >= 0 && len(v.arr) < n.minItems) || (n.maxItems >= 0 && len(v.arr) > n.maxItems) {
			return false
		}
		if n.unique {
			for i := range v.arr {
				for j := range i {
					if jEqual(v.arr[i], v.arr[j]) {
						return false
					}
				}
			}
		}
	case jString:
		l := utf8.RuneCountInString(v.s)
		if (n.minLen >= 0 && l < n.minLen) || (n.maxLen >= 0 && l > n.maxLen) {
			return false
		}
		if n.pattern != nil && !n.pattern.MatchString(v.s) {
			return false
		}
	case jNumber:
		d := parseDecimal([]byte(v.s))
		if (n.minimum != nil && d.cmp(n.minimum.d) < 0) || (n.maximum != nil && d.cmp(n.maximum.d) > 0) ||
			(n.exclMin != nil && d.cmp(n.exclMin.d) <= 0) || (n.exclMax != nil && d.cmp(n.exclMax.d) >= 0) {
			return false
		}
		if n.multipleOf != nil {
			r, ok := d.rat()
			m := n.multipleOf
			if !ok || !r.Quo(r, new(big.Rat).SetFrac(new(big.Int).Set(m.p), new(big.Int).Set(m.q))).IsInt() {
				return false
			}
		}
	}
	for _, b := range n.allOf {
		if !refValid(b, v) {
			return false
		}
	}
	if len(n.anyOf) > 0 {
		matched := false
		for _, b := range n.anyOf {
			matched = matched || refValid(b, v)
		}
		if !matched {
			return false
		}
	}
	if len(n.oneOf) > 0 {
		count := 0
		for _, b := range n.oneOf {
			if refValid(b, v) {
				count++
			}
		}
		if count != 1 {
			return false
		}
	}
	if n.not != nil && refValid(n.not, v) {
		return false
	}
	if n.ifN != nil {
		branch := n.elseN
		if refValid(n.ifN, v) {
			branch = n.thenN
		}
		if branch != nil && !refValid(branch, v) {
			return false
		}
	}
	return true
}

func refObject(n *node, v *jvalue) bool {
	for _, m := range v.obj {
		applied := false
		for _, k := range n.keys[:n.nprops] {
			if k.name == m.key {
				applied = true
				if !refValid(k.schema, m.val) {
					return false
				}
			}
		}
		for _, p := range n.patterns {
			if p.re.MatchString(m.key) {
				applied = true
				if !refValid(p.schema, m.val) {
					return false
				}
			}
		}
		if !applied && (n.noAdditional || (n.additional != nil && !refValid(n.additional, m.val))) {
			return false
		}
	}
	for _, i := range n.required {
		if v.get(n.keys[i].name) == nil {
			return false
		}
	}
	return (n.minProps < 0 || len(v.obj) >= n.minProps) && (n.maxProps < 0 || len(v.obj) <= n.maxProps)
}

func refKind(v *jvalue) typeSet {
	switch v.kind {
	case jNull:
		return tNull
	case jBool:
		return tBoolean
	case jString:
		return tString
	case jArray:
		return tArray
	case jObject:
		return tObject
	}
	if parseDecimal([]byte(v.s)).isInteger() {
		return tInteger
	}
	return tNumber
}

// TestReferenceSelf checks the reference against hand-picked verdicts, so
// that agreement with it means something.
func TestReferenceSelf(t *testing.T) {
	t.Parallel()

	v := compile(t, refSchema)
	for data, want := range map[string]bool{
		`{"s":"a"}`:                       true,
		`{"s":"A"}`:                       false,
		`{"s":"a","n":9.5}`:               true,
		`{"s":"a","n":0.3}`:               false,
		`{"s":"a","one":1}`:               false,
		`{"s":"a","one":-1.5}`:            false,
		`{"s":"a","cond":"x"}`:            false,
		`[{"s":"a"},{"s":"b"}]`:           true,
		`{"s":"a","all":{"s":"b","i":1}}`: true,
	} {
		doc, err := parseDocument([]byte(data))
		require.NoError(t, err)
		require.Equal(t, want, refValid(v.root, doc), data)
		require.Equal(t, want, v.Validate([]byte(data)) == nil, data)
	}
}
