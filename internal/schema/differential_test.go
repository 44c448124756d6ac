package schema

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// gen generates schemas over the supported keywords and instances that
// are likely to come close to their constraints: both draw names, numbers
// and strings from the same small pools.
type gen struct {
	r *rand.Rand
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var (
	genNames    = []string{"a", "b", "c", "ab", "x1", "x-y", ""}
	genPatterns = []string{"^a", "b$", "^x[0-9]", "", "^[a-c]+$", "é", "^.{2}$", "^\\\\p{L}+$", "[0-9]"}
	genNumbers  = []string{
		"0", "-0", "1", "1.0", "-1", "2", "3", "10", "100", "1e2", "1E+2", "0.1",
		"0.2", "0.30000000000000004", "0.3", "2.5", "-2.5", "1.5", "1e-2", "-7",
		"12345678901234567890", "12345678901234567891", "9007199254740993", "1e400", "-1e400", "1e-400",
	}
	genMultiples = []string{"1", "2", "3", "0.5", "0.1", "1e-2", "1.5", "7", "0.0001", "1e2"}
	genStrings   = []string{
		`""`, `"a"`, `"b"`, `"ab"`, `"abc"`, `"x1"`, `"x-y"`, `"é"`, `"😀"`, `"aaaa"`, `"A"`,
		`"ab\u00e9"`, `"\ud83d\ude00"`, `"a\nb"`, `"1"`, `"aGVsbG8="`, `"aGVsbG8"`, `"!!"`,
		`"2024-01-02T15:04:05Z"`, `"2024-01-02T15:04:05.5+01:00"`, `"2024-13-02T15:04:05Z"`,
		`"2024-01-02"`, `"\u0061"`,
	}
	genCounts = []string{"0", "1", "2", "3"}
	genTypes  = []string{"object", "array", "string", "number", "integer", "boolean", "null"}
)

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) chance(pct int) bool { return g.r.IntN(100) < pct }

// schema generates a schema document: a root schema, possibly with $defs
// that it and its subschemas reference.
func (g *gen) schema() string {
	ndefs := 0
	if g.chance(30) {
		ndefs = 1 + g.r.IntN(2)
	}
	root := g.sub(3, ndefs)
	if ndefs == 0 || !strings.HasPrefix(root, "{") {
		return root
	}
	var defs []string
	for i := range ndefs {
		defs = append(defs, `"D`+strconv.Itoa(i)+`":`+g.sub(2, ndefs))
	}
	body := strings.TrimPrefix(root, "{")
	sep := ","
	if body == "}" {
		sep = ""
	}
	return `{"$defs":{` + strings.Join(defs, ",") + `}` + sep + body
}

// sub generates a subschema of at most the given depth.
func (g *gen) sub(depth, ndefs int) string {
	switch {
	case g.chance(6):
		return "true"
	case g.chance(4):
		return "false"
	case ndefs > 0 && g.chance(15):
		return `{"$ref":"#/$defs/D` + strconv.Itoa(g.r.IntN(ndefs)) + `"}`
	case depth < 3 && g.chance(2):
		return `{"$ref":"#"}` // often a cycle, which Compile rejects
	}
	var kws []string
	used := map[string]bool{}
	add := func(k, v string) {
		if !used[k] {
			used[k] = true
			kws = append(kws, strconv.Quote(k)+":"+v)
		}
	}
	nkw := 1 + g.r.IntN(4)
	for range nkw {
		k := g.r.IntN(24)
		if depth <= 0 && k >= 17 {
			k = g.r.IntN(17)
		}
		switch k {
		case 0:
			if g.chance(70) {
				add("type", strconv.Quote(g.pick(genTypes)))
			} else {
				a, b := g.pick(genTypes), g.pick(genTypes)
				if a == b {
					add("type", `[`+strconv.Quote(a)+`]`)
				} else {
					add("type", `[`+strconv.Quote(a)+`,`+strconv.Quote(b)+`]`)
				}
			}
		case 1:
			n := g.r.IntN(4)
			vals := make([]string, n)
			for i := range vals {
				vals[i] = g.value(1)
			}
			add("enum", "["+strings.Join(vals, ",")+"]")
		case 2:
			add("const", g.value(1))
		case 3, 4:
			if used["props"] {
				continue
			}
			used["props"] = true
			var props []string
			seen := map[string]bool{}
			for range 1 + g.r.IntN(3) {
				n := g.pick(genNames)
				if !seen[n] {
					seen[n] = true
					props = append(props, strconv.Quote(n)+":"+g.sub(depth-1, ndefs))
				}
			}
			add("properties", "{"+strings.Join(props, ",")+"}")
			if g.chance(50) {
				add("additionalProperties", g.additional(depth, ndefs))
			}
		case 5:
			var req []string
			seen := map[string]bool{}
			for range g.r.IntN(3) {
				n := g.pick(genNames)
				if !seen[n] {
					seen[n] = true
					req = append(req, strconv.Quote(n))
				}
			}
			add("required", "["+strings.Join(req, ",")+"]")
		case 6:
			var pats []string
			seen := map[string]bool{}
			for range 1 + g.r.IntN(2) {
				p := g.pick(genPatterns)
				if !seen[p] {
					seen[p] = true
					pats = append(pats, `"`+p+`":`+g.sub(depth-1, ndefs))
				}
			}
			add("patternProperties", "{"+strings.Join(pats, ",")+"}")
			if !used["props"] && g.chance(50) {
				used["props"] = true
				add("additionalProperties", g.additional(depth, ndefs))
			}
		case 7:
			add("minProperties", g.pick(genCounts))
			if g.chance(50) {
				add("maxProperties", g.pick(genCounts))
			}
		case 8:
			add("items", g.sub(depth-1, ndefs))
		case 9:
			add("minItems", g.pick(genCounts))
			if g.chance(50) {
				add("maxItems", g.pick(genCounts))
			}
		case 10:
			add("uniqueItems", strconv.FormatBool(g.chance(80)))
		case 11:
			add("minLength", g.pick(genCounts))
			if g.chance(50) {
				add("maxLength", g.pick(genCounts))
			}
		case 12:
			add("pattern", `"`+g.pick(genPatterns)+`"`)
		case 13:
			if g.chance(50) {
				add("format", `"date-time"`)
			} else {
				add("contentEncoding", `"base64"`)
			}
		case 14:
			add(g.pick([]string{"minimum", "exclusiveMinimum"}), g.pick(genNumbers))
			if g.chance(50) {
				add(g.pick([]string{"maximum", "exclusiveMaximum"}), g.pick(genNumbers))
			}
		case 15:
			add("multipleOf", g.pick(genMultiples))
		case 16:
			// Annotations, which must change nothing.
			add(g.pick([]string{"title", "description", "$comment", "x-note"}), `"note"`)
			if g.chance(30) {
				add("format", `"email"`)
			}
		case 17, 18:
			add(g.pick([]string{"allOf", "anyOf", "oneOf"}), g.list(depth, ndefs))
		case 19:
			add("not", g.sub(depth-1, ndefs))
		case 20, 21:
			add("if", g.sub(depth-1, ndefs))
			if g.chance(80) {
				add("then", g.sub(depth-1, ndefs))
			}
			if g.chance(60) {
				add("else", g.sub(depth-1, ndefs))
			}
		case 22:
			if ndefs > 0 {
				add("$ref", `"#/$defs/D`+strconv.Itoa(g.r.IntN(ndefs))+`"`)
			}
		case 23:
			add("anyOf", `[{"type":"null"},`+g.sub(depth-1, ndefs)+`]`)
		}
	}
	return "{" + strings.Join(kws, ",") + "}"
}

func (g *gen) additional(depth, ndefs int) string {
	if g.chance(60) {
		return "false"
	}
	return g.sub(depth-1, ndefs)
}

func (g *gen) list(depth, ndefs int) string {
	n := 1 + g.r.IntN(3)
	alts := make([]string, n)
	for i := range alts {
		alts[i] = g.sub(depth-1, ndefs)
	}
	return "[" + strings.Join(alts, ",") + "]"
}

// value generates a JSON value of at most the given depth.
func (g *gen) value(depth int) string {
	k := g.r.IntN(10)
	if depth <= 0 && k >= 7 {
		k = g.r.IntN(7)
	}
	switch k {
	case 0, 1:
		return g.pick(genNumbers)
	case 2, 3:
		return g.pick(genStrings)
	case 4:
		return strconv.FormatBool(g.chance(50))
	case 5:
		return "null"
	case 6:
		return strconv.Itoa(g.r.IntN(21) - 10)
	case 7, 8:
		var members []string
		seen := map[string]bool{}
		for range g.r.IntN(4) {
			n := g.pick(genNames)
			if !seen[n] {
				seen[n] = true
				members = append(members, strconv.Quote(n)+":"+g.value(depth-1))
			}
		}
		return "{" + strings.Join(members, ",") + "}"
	default:
		n := g.r.IntN(4)
		elems := make([]string, n)
		for i := range elems {
			elems[i] = g.value(depth - 1)
		}
		if n >= 2 && g.chance(30) {
			elems[n-1] = elems[0] // a duplicate, for uniqueItems
		}
		return "[" + strings.Join(elems, ",") + "]"
	}
}

// handSchemas are hand-written schemas for the differential test, around
// the edges of each keyword.
func handSchemas() []string {
	return []string{
		refSchema,
		comboSchema,
		`{"type":"integer","minimum":12345678901234567890,"maximum":12345678901234567891}`,
		`{"type":"number","exclusiveMinimum":0.1,"exclusiveMaximum":0.30000000000000004}`,
		`{"multipleOf":0.1}`,
		`{"multipleOf":1e-2,"maximum":1e2}`,
		`{"multipleOf":3,"type":"integer"}`,
		`{"enum":[1,"1",[1],{"a":1},null,true,0.1]}`,
		`{"const":{"a":[1,2.0],"b":{"c":null}}}`,
		`{"const":1.0}`,
		`{"const":-0}`,
		`{"type":"array","uniqueItems":true}`,
		`{"type":"array","uniqueItems":true,"items":{"type":"number"}}`,
		`{"items":{"items":{"type":"integer"}},"maxItems":2}`,
		`{"minLength":2,"maxLength":3}`,
		`{"pattern":"^\\p{L}{2}$"}`,
		`{"pattern":"a+"}`,
		`{"contentEncoding":"base64","minLength":1}`,
		`{"format":"date-time"}`,
		`{"properties":{"a":{"type":"integer"}},"patternProperties":{"^a":{"minimum":2},"b$":false},"additionalProperties":{"type":"string"}}`,
		`{"required":["a","b"],"properties":{"a":true},"minProperties":2,"maxProperties":2}`,
		`{"properties":{"":{"type":"null"},"x-y":{"type":"boolean"}},"additionalProperties":false}`,
		`{"anyOf":[{"type":"integer"},{"type":"string","minLength":2}],"not":{"const":"ab"}}`,
		`{"oneOf":[{"type":"integer"},{"type":"number","minimum":2}]}`,
		`{"oneOf":[{"required":["a"]},{"required":["b"]}]}`,
		`{"if":{"properties":{"a":{"const":1}},"required":["a"]},"then":{"required":["b"]},"else":{"maxProperties":1}}`,
		`{"if":{"type":"string"},"then":{"minLength":2}}`,
		`{"allOf":[{"$ref":"#/$defs/pos"},{"multipleOf":2}],"$defs":{"pos":{"exclusiveMinimum":0}}}`,
		`{"$defs":{"list":{"type":["object","null"],"properties":{"v":{"type":"integer"},"next":{"$ref":"#/$defs/list"}},"additionalProperties":false}},"$ref":"#/$defs/list"}`,
		`{"type":["array","object"],"items":{"$ref":"#"},"additionalProperties":{"$ref":"#"},"maxItems":2}`,
		`{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"type":"string"}},"maxLength":1}`,
		`{"definitions":{"n":{"type":"null"}},"items":{"$ref":"#/definitions/n"}}`,
		`{"properties":{"a~b":{"type":"integer"},"c/d":{"type":"string"}},"$defs":{"x":{"$ref":"#/properties/a~0b"}},"items":{"$ref":"#/properties/c~1d"}}`,
		`{"not":{"not":{"type":"string"}}}`,
		`{"anyOf":[false,{"type":"null"}]}`,
		`{"enum":[]}`,
		`{"type":"object","title":"T","description":"d","default":{},"examples":[1],"deprecated":true,"readOnly":true,"x-go":"T","$comment":"c","format":"uuid","contentMediaType":"application/json"}`,
	}
}

// TestDifferentialSanthosh checks Validate against the oracle on the
// hand-written schemas and on generated ones, over generated instances,
// and each schema's own enum and const values. Only the listed
// divergences are excused. It also checks that the corpus means
// something: most schemas compile with both, and the instances meet both
// verdicts.
func TestDifferentialSanthosh(t *testing.T) {
	t.Parallel()

	g := newGen(1)
	schemas := handSchemas()
	nGenerated := 1000
	if testing.Short() {
		nGenerated = 200
	}
	for range nGenerated {
		schemas = append(schemas, g.schema())
	}
	var compiled, valid, invalid, excused int
	for _, src := range schemas {
		v, err := Compile([]byte(src))
		o, oerr := compileOracle([]byte(src))
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !strings.Contains(err.Error(), divRefCycle) {
				// Compile calls the schema invalid: so must the oracle.
				// A cycle of references is excused (divRefCycle).
				require.Error(t, oerr, "Compile rejects %s (%v), the oracle accepts it", src, err)
			}
			continue
		}
		require.NoError(t, oerr, "Compile accepts %s, the oracle does not", src)
		doc, err := parseDocument([]byte(src))
		require.NoError(t, err)
		compiled++
		instances := make([]string, 0, 40)
		for range 30 {
			instances = append(instances, g.value(3))
		}
		walkSchema(doc, func(kw string, val *jvalue) {
			switch kw {
			case "const":
				instances = append(instances, val.String())
			case "enum":
				for _, e := range val.arr {
					instances = append(instances, e.String())
				}
			}
		})
		for _, in := range instances {
			want, err := o.valid([]byte(in))
			require.NoError(t, err, in)
			if want {
				valid++
			} else {
				invalid++
			}
			got := v.Validate([]byte(in))
			if want == (got == nil) {
				continue
			}
			reason := divergence(v, o, doc, []byte(in))
			require.NotEmpty(t, reason, "schema %s\ninstance %s\noracle says valid=%v, Validate says %v", src, in, want, got)
			excused++
		}
	}
	t.Logf("%d of %d schemas compiled; %d valid and %d invalid instances; %d excused divergences",
		compiled, len(schemas), valid, invalid, excused)
	require.Greater(t, compiled, len(schemas)/2)
	require.Greater(t, valid, 1000)
	require.Greater(t, invalid, 1000)
}
