package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const orderFields = "created, id, units, items, tags, ship, note, meta, imap, extra, raw, data, flag, matrix"

// TestValidateOrder runs one table against every reflected form of
// testOrder: the messages must not depend on how the schema was reflected.
func TestValidateOrder(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		data string
		want string // "" when valid
	}{
		// Valid documents.
		{"minimal", `{"id":1}`, ""},
		{"whitespace", " \t\r\n{ \"id\" : 1 }\n ", ""},
		{"integer with fraction zero", `{"id":3.0}`, ""},
		{"integer with exponent", `{"id":1e2}`, ""},
		{"integral fraction and exponent", `{"id":1.5e1}`, ""},
		{"large integer", `{"id":-123456789012345678901234567890}`, ""},
		{"unicode and escapes", `{"id":1,"note":"héllo 世界 😀","tags":["\u00e9","\ud83d\ude00","a\"b\\c\/\n\t\b\f\r"]}`, ""},
		{"nested arrays", `{"id":1,"matrix":[[1,2.5],[],[-1e-3,0.0,1E+2]]}`, ""},
		{"map", `{"id":1,"meta":{"a":1,"b c":-2,"":0}}`, ""},
		{"int-keyed map", `{"id":1,"imap":{"1":"a","20":"b"}}`, ""},
		{"any and raw", `{"id":1,"extra":{"x":[1,{"y":null}],"z":"s"},"raw":[true,false,null]}`, ""},
		{"base64", `{"id":1,"data":"aGVsbG8="}`, ""},
		{"date-time", `{"id":1,"created":"2024-01-02T15:04:05.123+02:00"}`, ""},
		{"address", `{"id":1,"ship":{"street":"Main","city":"Zürich","zip":"80001"}}`, ""},
		{"null for nullable", `{"id":1,"note":null}`, ""},
		{"items", `{"id":1,"items":[{"name":"a","count":1,"price":19.99},{"name":"b","count":100}]}`, ""},
		{"unique tags", `{"id":1,"tags":["a","b","A"]}`, ""},
		{"escaped key", `{"\u0069d":1}`, ""},
		{"duplicate key", `{"id":1,"id":2}`, ""},

		// Types.
		{"string for integer", `{"id":"3"}`, `at "id": expected integer, got string "3"`},
		{"fraction for integer", `{"id":3.5}`, `at "id": expected integer, got number 3.5`},
		{"small exponent for integer", `{"id":1e-2}`, `at "id": expected integer, got number 1e-2`},
		{"string for boolean", `{"id":1,"flag":"true"}`, `at "flag": expected boolean, got string "true"`},
		{"null for integer", `{"id":null}`, `at "id": expected integer, got null`},
		{"array for root", `[{"id":1}]`, `at (root): expected object, got array [{"id":1}]`},
		{"null for root", `null`, `at (root): expected object, got null`},
		{"number for root", `42`, `at (root): expected object, got number 42`},
		{"nested array element", `{"id":1,"matrix":[[1],[2,"x"]]}`, `at "matrix[1][1]": expected number, got string "x"`},
		{"map value", `{"id":1,"meta":{"a":"x"}}`, `at "meta.a": expected integer, got string "x"`},
		{"map key needing quotes", `{"id":1,"meta":{"b c":true}}`, `at meta["b c"]: expected integer, got boolean true`},
		{"escaped map key", `{"id":1,"meta":{"a\"b":[]}}`, `at meta["a\"b"]: expected integer, got array []`},
		{"object for string", `{"id":1,"ship":{"street":{"a": 1, "b": [1, 2]},"city":"x"}}`, `at "ship.street": expected string, got object {"a":1,"b":[1,2]}`},
		{"nullable", `{"id":1,"note":5}`, `at "note": expected string or null, got number 5`},
		{"null for optional pointer", `{"id":1,"ship":null}`, `at "ship": expected object, got null`},
		{
			"long value is cut",
			`{"id":"` + strings.Repeat("abcdefghij", 10) + `"}`,
			`at "id": expected integer, got string "abcdefghijabcdefghijabcdefghijabcdefghi…`,
		},
		{
			"cut keeps runes whole",
			`{"id":"` + strings.Repeat("😀", 21) + `"}`,
			`at "id": expected integer, got string "` + strings.Repeat("😀", 9) + `…`,
		},

		// Object keywords.
		{"missing required", `{}`, `missing required field "id" at (root)`},
		{"missing nested", `{"id":1,"ship":{"city":"x"}}`, `missing required field "street" at "ship"`},
		{"missing in array element", `{"id":1,"items":[{"name":"a","count":1},{"name":"b","count":1},{"count":1}]}`, `missing required field "name" at "items[2]"`},
		{"unknown field", `{"id":1,"idd":2}`, `unknown field "idd" at (root); allowed fields: ` + orderFields + ` (did you mean "id"?)`},
		{"unknown field, different case", `{"id":1,"ID":2}`, `unknown field "ID" at (root); allowed fields: ` + orderFields + ` (did you mean "id"?)`},
		{"unknown field, no suggestion", `{"id":1,"colour":2}`, `unknown field "colour" at (root); allowed fields: ` + orderFields},
		{"unknown nested field", `{"id":1,"ship":{"street":"s","cty":"x"}}`, "unknown field \"cty\" at \"ship\"; allowed fields: street, city, zip (did you mean \"city\"?)\nmissing required field \"city\" at \"ship\""},
		{"unknown key of int map", `{"id":1,"imap":{"x":"a"}}`, `unknown field "x" at "imap"; field names must match ^[0-9]+$`},
		{"int map value", `{"id":1,"imap":{"1":2}}`, `at imap["1"]: expected string, got number 2`},

		// Enum.
		{"enum", `{"id":1,"units":"kelvin"}`, `at "units": "kelvin" is not one of "celsius", "fahrenheit"`},
		{"enum wrong type", `{"id":1,"units":1}`, `at "units": expected string, got number 1`},
		{"enum with escapes", `{"id":1,"units":"c\u0065lsius"}`, ``},

		// Numbers.
		{"minimum", `{"id":1,"items":[{"name":"a","count":0}]}`, `at "items[0].count": expected integer >= 1, got 0`},
		{"maximum", `{"id":1,"items":[{"name":"a","count":101}]}`, `at "items[0].count": expected integer <= 100, got 101`},
		{"maximum exact", `{"id":1,"items":[{"name":"a","count":1.00e2}]}`, ``},
		{"exclusiveMinimum", `{"id":1,"items":[{"name":"a","count":1,"price":0}]}`, `at "items[0].price": expected number > 0, got 0`},
		{"exclusiveMaximum", `{"id":1,"items":[{"name":"a","count":1,"price":1000}]}`, `at "items[0].price": expected number < 1000, got 1000`},
		{"multipleOf", `{"id":1,"items":[{"name":"a","count":1,"price":19.999}]}`, `at "items[0].price": expected multiple of 0.01, got 19.999`},

		// Arrays.
		{"minItems", `{"id":1,"items":[]}`, `at "items": expected array of length >= 1, got array of length 0`},
		{"maxItems", `{"id":1,"items":[{"name":"a","count":1},{"name":"a","count":1},{"name":"a","count":1},{"name":"a","count":1}]}`, `at "items": expected array of length <= 3, got array of length 4`},
		{"uniqueItems", `{"id":1,"tags":["a","b","a"]}`, `at "tags": expected array of unique items, got duplicate items at [0] and [2]`},
		{"uniqueItems with escapes", `{"id":1,"tags":["é","\u00e9"]}`, `at "tags": expected array of unique items, got duplicate items at [0] and [1]`},

		// Strings.
		{"minLength", `{"id":1,"ship":{"street":"s","city":""}}`, `at "ship.city": expected string of length >= 1, got "" (length 0)`},
		{"maxLength", `{"id":1,"ship":{"street":"s","city":"aaaaaaaaaaaaaaaaaaaaaaaaa"}}`, `at "ship.city": expected string of length <= 20, got "aaaaaaaaaaaaaaaaaaaaaaaaa" (length 25)`},
		{"length counts code points", `{"id":1,"ship":{"street":"s","city":"😀😀😀😀😀😀😀😀😀😀éééééééééé"}}`, ``},
		{"length counts escapes", `{"id":1,"ship":{"street":"s","city":"\ud83d\ude00\n\t\u00e9\"aaaaaaaaaaaaaaaa"}}`, `at "ship.city": expected string of length <= 20, got "\ud83d\ude00\n\t\u00e9\"aaaaaaaaaaaaaaa… (length 21)`},
		{"pattern", `{"id":1,"ship":{"street":"s","city":"x","zip":"1234"}}`, `at "ship.zip": expected string matching ^[0-9]{5}$, got "1234"`},
		{"date-time", `{"id":1,"created":"yesterday"}`, `at "created": expected date-time string (RFC 3339, such as 2006-01-02T15:04:05Z), got "yesterday"`},
		{"date-time without zone", `{"id":1,"created":"2024-01-02T15:04:05"}`, `at "created": expected date-time string (RFC 3339, such as 2006-01-02T15:04:05Z), got "2024-01-02T15:04:05"`},
		{"base64", `{"id":1,"data":"not base64!"}`, `at "data": expected base64-encoded string, got "not base64!"`},

		// Several violations, in input order; missing fields at the end of
		// their object.
		{
			"several",
			`{"idd":1,"units":"k","items":[],"ship":{"street":1}}`,
			`unknown field "idd" at (root); allowed fields: ` + orderFields + ` (did you mean "id"?)` + "\n" +
				`at "units": "k" is not one of "celsius", "fahrenheit"` + "\n" +
				`at "items": expected array of length >= 1, got array of length 0` + "\n" +
				`at "ship.street": expected string, got number 1` + "\n" +
				`missing required field "city" at "ship"` + "\n" +
				`missing required field "id" at (root)`,
		},

		// Syntax.
		{"empty", ``, `invalid JSON: empty input`},
		{"blank", " \n\t ", `invalid JSON: empty input`},
		{"trailing data", `{"id":1} x`, `invalid JSON at offset 9: invalid character 'x' after top-level value; near: {"id":1} x`},
		{"two values", `{"id":1}{"id":2}`, `invalid JSON at offset 8: invalid character '{' after top-level value; near: {"id":1}{"id":2}`},
		{"trailing comma", `{"id":1,}`, `invalid JSON at offset 8: invalid character '}' looking for beginning of object key string; near: {"id":1,}`},
		{"missing value", `{"id":}`, `invalid JSON at offset 6: invalid character '}' looking for beginning of value; near: {"id":}`},
		{"truncated", `{"id":1`, `invalid JSON at offset 7: unexpected end of JSON input; near: {"id":1`},
		{"leading zero", `{"id":01}`, `invalid JSON at offset 7: invalid character '1' after object key:value pair; near: {"id":01}`},
		{"single quotes", `{'id':1}`, `invalid JSON at offset 1: invalid character '\'' looking for beginning of object key string; near: {'id':1}`},
		{"bad escape", `{"id":"\x"}`, `invalid JSON at offset 8: invalid character 'x' in string escape code; near: {"id":"\x"}`},
		{"control character", "{\"id\":\"a\nb\"}", `invalid JSON at offset 8: invalid character '\n' in string literal; near: {"id":"a b"}`},
		{"bad literal", `{"id":tru}`, `invalid JSON at offset 9: invalid character '}' in literal true (expecting 'e'); near: {"id":tru}`},
		{"markdown fence", "```json\n{\"id\":1}\n```", "invalid JSON at offset 0: invalid character '`' looking for beginning of value; near: ```json {\"id\":1}…"},
		{
			"long context",
			`{"id":1,"extra":"` + strings.Repeat("x", 40) + `",,"more":"` + strings.Repeat("y", 40) + `"}`,
			`invalid JSON at offset 59: invalid character ',' looking for beginning of object key string; near: …xxxxxxxxxxxxxxxxxxxxxx",,"more":"yyyyyyy…`,
		},
		{"syntax beats schema", `{"idd":1,"units":"k",`, `invalid JSON at offset 21: unexpected end of JSON input; near: {"idd":1,"units":"k",`},
	}
	for _, f := range formsOf[testOrder](t, false) {
		v := compile(t, string(f.schema))
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				check(t, v, tt.data, tt.want)
			})
		}
	}
}

func TestValidateWeather(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		data string
		want string
	}{
		{"valid", `{"city":"Paris","units":"celsius"}`, ""},
		{"missing", `{"units":"celsius"}`, `missing required field "city" at (root)`},
		{"misspelt", `{"citty":"Paris"}`, "unknown field \"citty\" at (root); allowed fields: city, units (did you mean \"city\"?)\nmissing required field \"city\" at (root)"},
		{"enum", `{"city":"Paris","units":"kelvin"}`, `at "units": "kelvin" is not one of "celsius", "fahrenheit"`},
	}
	for _, f := range formsOf[testWeather](t, false) {
		v := compile(t, string(f.schema))
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				check(t, v, tt.data, tt.want)
			})
		}
	}
}

func TestValidateRecursive(t *testing.T) {
	t.Parallel()

	for _, f := range formsOf[testTree](t, true) {
		v := compile(t, string(f.schema))
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			check(t, v, `{"value":1,"children":[{"value":2,"children":[{"value":3}]},{"value":4}]}`, "")
			check(t, v, `{"value":1,"children":[{"value":2,"children":[{"value":"x"}]}]}`,
				`at "children[0].children[0].value": expected integer, got string "x"`)
			check(t, v, `{"value":1,"children":[{"children":[]}]}`, `missing required field "value" at "children[0]"`)
		})
	}
}

func TestValidateMaxViolations(t *testing.T) {
	t.Parallel()

	v := compile(t, `{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":false,"required":["a"]}`)
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 12 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`"x` + itoa(i) + `":1`)
	}
	sb.WriteString("}")
	err := v.Validate([]byte(sb.String()))
	var verr *Error
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Violations, MaxViolations)
	require.Equal(t, 3, verr.Omitted) // two more unknown fields, and the missing "a"
	require.Equal(t, `unknown field "x0" at (root); allowed fields: a`, verr.Violations[0].Message)
	require.True(t, strings.HasSuffix(err.Error(), "\nunknown field \"x9\" at (root); allowed fields: a\n(3 more violations not shown)"), err.Error())
}

func TestViolationFields(t *testing.T) {
	t.Parallel()

	v := compile(t, `{"type":"object","properties":{"items":{"type":"array","items":{"type":"object","properties":{"n":{"type":"integer"}}}}}}`)
	err := v.Validate([]byte(`{"items": [{}, {"n": "3"}]}`))
	var verr *Error
	require.ErrorAs(t, err, &verr)
	require.Equal(t, []Violation{{
		Path:     "items[1].n",
		Keyword:  "type",
		Expected: "integer",
		Got:      `string "3"`,
		Offset:   21,
		Message:  `at "items[1].n": expected integer, got string "3"`,
	}}, verr.Violations)

	err = v.Validate([]byte(`{"items": [}`))
	require.ErrorAs(t, err, &verr)
	require.Equal(t, []Violation{{
		Keyword:  "syntax",
		Expected: "valid JSON",
		Got:      `{"items": [}`,
		Offset:   11,
		Message:  `invalid JSON at offset 11: invalid character '}' looking for beginning of value; near: {"items": [}`,
	}}, verr.Violations)

	v = compile(t, `{"required":["a"]}`)
	err = v.Validate([]byte(`{"b":1}`))
	require.ErrorAs(t, err, &verr)
	require.Equal(t, []Violation{{
		Path:     RootPath,
		Keyword:  "required",
		Expected: `field "a"`,
		Got:      `object {"b":1}`,
		Offset:   0,
		Message:  `missing required field "a" at (root)`,
	}}, verr.Violations)
}

// TestValidateKeywords covers keywords that invopop emits only from
// hand-written or custom schemas.
func TestValidateKeywords(t *testing.T) {
	t.Parallel()

	const shapes = `{
		"oneOf": [{"$ref": "#/$defs/Circle"}, {"$ref": "#/$defs/Square"}],
		"$defs": {
			"Circle": {"type": "object", "properties": {"kind": {"const": "circle"}, "radius": {"type": "number"}}, "required": ["kind", "radius"], "additionalProperties": false},
			"Square": {"type": "object", "properties": {"kind": {"const": "square"}, "side": {"type": "number"}}, "required": ["kind", "side"], "additionalProperties": false}
		}
	}`
	const nullableAddress = `{
		"type": "object",
		"properties": {"addr": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]}},
		"$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}
	}`
	const groups = `{
		"type": "object",
		"properties": {"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}},
		"additionalProperties": false,
		"oneOf": [{"title": "group1", "required": ["a", "b"]}, {"title": "group2", "required": ["c"]}]
	}`
	tests := []struct {
		name   string
		schema string
		data   string
		want   string
	}{
		{"true schema", `true`, `[1,{"a":null}]`, ""},
		{"empty schema", `{}`, `"x"`, ""},
		{"false schema", `false`, `1`, `at (root): no value is allowed here, got number 1`},
		{"false property", `{"properties":{"a":false}}`, `{"a":1}`, `at "a": no value is allowed here, got number 1`},
		{"no fields allowed", `{"type":"object","additionalProperties":false}`, `{"a":1}`, `unknown field "a" at (root); no fields are allowed`},
		{"additionalProperties schema", `{"additionalProperties":{"type":"string"}}`, `{"a":"x","b":2}`, `at "b": expected string, got number 2`},
		{"type array", `{"type":["string","null"]}`, `5`, `at (root): expected string or null, got number 5`},
		{"type array ok", `{"type":["integer","null"]}`, `null`, ``},
		{"number accepts integer", `{"type":"number"}`, `5`, ``},
		{"integer rejects fraction", `{"type":"integer"}`, `1.000001`, `at (root): expected integer, got number 1.000001`},
		{"integer accepts huge exponent", `{"type":"integer"}`, `1e400`, ``},
		{"const", `{"properties":{"kind":{"const":"circle"}}}`, `{"kind":"square"}`, `at "kind": expected "circle", got "square"`},
		{"const object", `{"const":{"a":[1,2]}}`, `{"a":[1.0,2e0]}`, ``},
		{"const and enum", `{"const":-2.5,"enum":[-8,null]}`, `null`, `at (root): no value is allowed here, got null`},
		{"enum and const", `{"enum":[-8,null],"const":-2.5}`, `-8`, `at (root): no value is allowed here, got number -8`},
		{"const within enum", `{"enum":[1,"x"],"const":"x"}`, `1`, `at (root): expected "x", got 1`},
		{"const within enum ok", `{"const":1.0,"enum":[1,"x"]}`, `1`, ``},
		{"enum mixed", `{"enum":[1,2.5,"x",null,true,[1],{"a":1}]}`, `3`, `at (root): 3 is not one of 1, 2.5, "x", null, true, [1], {"a":1}`},
		{"enum mixed number", `{"enum":[1,2.5,"x",null,true,[1],{"a":1}]}`, `25e-1`, ``},
		{"enum mixed null", `{"enum":[1,2.5,"x",null,true,[1],{"a":1}]}`, `null`, ``},
		{"enum mixed array", `{"enum":[1,2.5,"x",null,true,[1],{"a":1}]}`, `[1.0]`, ``},
		{"enum mixed object", `{"enum":[1,2.5,"x",null,true,[1],{"a":1}]}`, `{"a":2}`, `at (root): {"a":2} is not one of 1, 2.5, "x", null, true, [1], {"a":1}`},
		{"empty enum", `{"enum":[]}`, `1`, `at (root): no value is allowed here, got number 1`},
		{"minimum big", `{"minimum":9007199254740993}`, `9007199254740992`, `at (root): expected number >= 9007199254740993, got 9007199254740992`},
		{"multipleOf decimal", `{"multipleOf":0.1}`, `0.3`, ``},
		{"multipleOf huge", `{"multipleOf":7}`, `7e1000000000`, ``},
		{"multipleOf tiny", `{"multipleOf":7}`, `7e-1000000000`, `at (root): expected multiple of 7, got 7e-1000000000`},
		{"minProperties", `{"minProperties":2}`, `{"a":1}`, `at (root): expected object with at least 2 fields, got object with 1 field`},
		{"maxProperties", `{"maxProperties":1}`, `{"a":1,"b":2}`, `at (root): expected object with at most 1 field, got object with 2 fields`},
		{"patternProperties", `{"patternProperties":{"^x-":{"type":"string"}},"properties":{"x-a":{"minLength":3}}}`, `{"x-a":1,"x-b":"ok"}`, `at ["x-a"]: expected string, got number 1`},
		{"patternProperties both apply", `{"patternProperties":{"^x-":{"type":"string"}},"properties":{"x-a":{"minLength":3}}}`, `{"x-a":"ab"}`, `at ["x-a"]: expected string of length >= 3, got "ab" (length 2)`},
		{"pattern unanchored", `{"pattern":"b"}`, `"abc"`, ``},
		{"uniqueItems numbers", `{"uniqueItems":true}`, `[1,"1",1.0]`, `at (root): expected array of unique items, got duplicate items at [0] and [2]`},
		{"uniqueItems objects", `{"uniqueItems":true}`, `[{"a":1,"b":2},{"b":2,"a":1}]`, `at (root): expected array of unique items, got duplicate items at [0] and [1]`},
		{"uniqueItems many", `{"uniqueItems":true}`, `[` + strings.Repeat(`[1],`, 0) + manyInts(40) + `,{"a":[5]},{"a":[5.0]}]`, `at (root): expected array of unique items, got duplicate items at [40] and [41]`},
		{"allOf", `{"allOf":[{"minimum":1},{"maximum":5}]}`, `7`, `at (root): expected number <= 5, got 7`},
		{"ref with siblings", `{"$defs":{"A":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/A","minimum":3}}}`, `{"a":2}`, `at "a": expected number >= 3, got 2`},
		{"ref with siblings type", `{"$defs":{"A":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/A","minimum":3}}}`, `{"a":"x"}`, `at "a": expected integer, got string "x"`},
		{"not", `{"not":{"type":"string"}}`, `"x"`, `at (root): expected a value not matching string, got string "x"`},
		{"not ok", `{"not":{"type":"string"}}`, `1`, ``},
		{"if then", `{"if":{"properties":{"k":{"const":"a"}}},"then":{"required":["a"]},"else":{"required":["b"]}}`, `{"k":"a"}`, `missing required field "a" at (root)`},
		{"if else", `{"if":{"properties":{"k":{"const":"a"}}},"then":{"required":["a"]},"else":{"required":["b"]}}`, `{"k":"z"}`, `missing required field "b" at (root)`},
		{"oneOf valid", shapes, `{"kind":"circle","radius":1}`, ``},
		{"oneOf none", shapes, `{"kind":"circle"}`, `at (root): expected one of: Circle (object with required fields kind, radius) | Square (object with required fields kind, side); got object {"kind":"circle"}`},
		{"oneOf type", shapes, `5`, `at (root): expected object, got number 5`},
		{"oneOf both", `{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `5`, `at (root): expected exactly one of: number | integer; got a value matching both number and integer`},
		{"oneOf one", `{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `5.5`, ``},
		{"anyOf single candidate", nullableAddress, `{"addr":{"town":"x"}}`, "unknown field \"town\" at \"addr\"; allowed fields: city\nmissing required field \"city\" at \"addr\""},
		{"anyOf null", nullableAddress, `{"addr":null}`, ``},
		{"anyOf syntax", nullableAddress, `{"addr":{"city":"x",}}`, `invalid JSON at offset 20: invalid character '}' looking for beginning of object key string; near: {"addr":{"city":"x",}}`},
		{"anyOf syntax at end", nullableAddress, `{"addr":nul`, `invalid JSON at offset 11: unexpected end of JSON input; near: {"addr":nul`},
		{"oneOf syntax", shapes, `{"kind":"circle","radius":1.}`, `invalid JSON at offset 28: invalid character '}' after decimal point in numeric literal; near: …nd":"circle","radius":1.}`},
		{"oneOf syntax after mismatch", shapes, `{"kind":"square","side":1,"x":[}`, `invalid JSON at offset 31: invalid character '}' looking for beginning of value; near: …:"square","side":1,"x":[}`},
		{"not syntax", `{"not":{"type":"string"}}`, `[1,]`, `invalid JSON at offset 3: invalid character ']' looking for beginning of value; near: [1,]`},
		{"anyOf type", nullableAddress, `{"addr":[]}`, `at "addr": expected object or null, got array []`},
		{"required groups", groups, `{"a":"x","b":"y"}`, ``},
		{"required groups none", groups, `{"a":"x"}`, `at (root): expected one of: group1 (with required fields a, b) | group2 (with required fields c); got object {"a":"x"}`},
		{"required groups both", groups, `{"a":"x","b":"y","c":"z"}`, `at (root): expected exactly one of: group1 (with required fields a, b) | group2 (with required fields c); got a value matching both group1 (with required fields a, b) and group2 (with required fields c)`},
		{"root ref", `{"type":"object","properties":{"next":{"$ref":"#"},"v":{"type":"integer"}}}`, `{"next":{"next":{"v":"x"}}}`, `at "next.next.v": expected integer, got string "x"`},
		{"definitions", `{"$ref":"#/definitions/A","definitions":{"A":{"type":"string"}}}`, `1`, `at (root): expected string, got number 1`},
		{"escaped pointer", `{"$ref":"#/$defs/a~1b","$defs":{"a/b":{"type":"string"}}}`, `1`, `at (root): expected string, got number 1`},
		{"ref into array", `{"properties":{"a":{"anyOf":[{"type":"string"}]},"b":{"$ref":"#/properties/a/anyOf/0"}}}`, `{"b":1}`, `at "b": expected string, got number 1`},
		{"date-time with escape", `{"format":"date-time"}`, `"2024-01-02T15:04:05\u005a"`, `at (root): expected date-time string (RFC 3339, such as 2006-01-02T15:04:05Z), got "2024-01-02T15:04:05\u005a"`},
		{"date-time ignores non-strings", `{"format":"date-time"}`, `1`, ``},
		{"date-time offset hour 24", `{"format":"date-time"}`, `"1990-12-31T15:59:59-24:00"`, `at (root): expected date-time string (RFC 3339, such as 2006-01-02T15:04:05Z), got "1990-12-31T15:59:59-24:00"`},
		{"date-time offset minute 60", `{"format":"date-time"}`, `"1990-12-31T10:00:00+10:60"`, `at (root): expected date-time string (RFC 3339, such as 2006-01-02T15:04:05Z), got "1990-12-31T10:00:00+10:60"`},
		{"date-time largest offset", `{"format":"date-time"}`, `"1990-12-31T10:00:00.5-23:59"`, ``},
		{"other formats are annotations", `{"format":"email"}`, `"nope"`, ``},
		{"x- keywords are annotations", `{"x-order":1,"title":"t","description":"d","examples":[1],"default":2,"$comment":"c","deprecated":true,"readOnly":true,"writeOnly":false,"contentMediaType":"text/plain"}`, `1`, ``},
		{"base64 with escaped newline", `{"contentEncoding":"base64"}`, `"aGVs\nbG8="`, ``},
		{"base64 with backslash", `{"contentEncoding":"base64"}`, `"aGVs\\nbG8="`, `at (root): expected base64-encoded string, got "aGVs\\nbG8="`},
		{"keys over 64", manyKeys(70), `{"k69":1}`, manyMissing(69)},
		{"deep path", `{"properties":{"a":{"$ref":"#"},"v":{"type":"integer"}}}`, strings.Repeat(`{"a":`, 20) + `{"v":"x"}` + strings.Repeat(`}`, 20), `at "` + strings.Repeat("a.", 20) + `v": expected integer, got string "x"`},
		{"deep path array", `{"items":{"$ref":"#"},"type":["array","integer"]}`, strings.Repeat(`[`, 20) + `[1,"x"]` + strings.Repeat(`]`, 20), `at "` + strings.Repeat("[0]", 20) + `[1]": expected array or integer, got string "x"`},
		{"anyOf enums by type", `{"anyOf":[{"enum":["a","b"]},{"const":1}]}`, `true`, `at (root): expected string or integer, got boolean true`},
		{"anyOf enum candidate", `{"anyOf":[{"enum":["a","b"]},{"const":1}]}`, `"c"`, `at (root): "c" is not one of "a", "b"`},
		{"anyOf describe enums", `{"anyOf":[{"enum":["a","b"]},{"const":"c"},{"type":"string","minLength":3}]}`, `"x"`, `at (root): expected one of: one of "a", "b" | "c" | string; got string "x"`},
		{"anyOf untyped", `{"anyOf":[{"minLength":2},{"maxLength":0}]}`, `"a"`, `at (root): expected one of: the schema at #/anyOf/0 | the schema at #/anyOf/1; got string "a"`},
		{"anyOf count candidate", `{"anyOf":[{"type":"array","minItems":2},{"type":"string"}]}`, `[1]`, `at (root): expected array of length >= 2, got array of length 1`},
		{"anyOf object count", `{"anyOf":[{"type":"object","maxProperties":0},{"type":"string"}]}`, `{"a":1}`, `at (root): expected object with at most 0 fields, got object with 1 field`},
		{"anyOf unique", `{"anyOf":[{"type":"array","uniqueItems":true},{"type":"null"}]}`, `[1,1]`, `at (root): expected array of unique items, got duplicate items at [0] and [1]`},
		{"anyOf number", `{"anyOf":[{"type":"number","maximum":1},{"type":"null"}]}`, `2`, `at (root): expected number <= 1, got 2`},
		{"anyOf unknown", `{"anyOf":[{"type":"object","additionalProperties":false},{"type":"null"}]}`, `{"a":1}`, `unknown field "a" at (root); no fields are allowed`},
		{"anyOf false", `{"anyOf":[false,{"type":"null"}]}`, `1`, `at (root): expected null, got number 1`},
		{"anyOf nested", `{"anyOf":[{"anyOf":[{"type":"string"},{"type":"integer"}]},{"type":"null"}]}`, `1.5`, `at (root): expected string or integer, got number 1.5`},
		{"oneOf with not", `{"oneOf":[{"not":{"type":"string"}},{"type":"string","minLength":2}]}`, `"a"`, `at (root): expected one of: the schema at #/oneOf/0 | string; got string "a"`},
		{"if inside anyOf", `{"anyOf":[{"type":"object","if":{"required":["a"]},"then":{"required":["b"]}},{"type":"null"}]}`, `{"a":1}`, `missing required field "b" at (root)`},
		{"enum inside anyOf", `{"anyOf":[{"type":"string","enum":["a"]},{"type":"null"}]}`, `"b"`, `at (root): "b" is not one of "a"`},
		{"pattern inside anyOf", `{"anyOf":[{"type":"string","pattern":"^a"},{"type":"null"}]}`, `"b\u0061"`, `at (root): expected string matching ^a, got "b\u0061"`},
		{"many enum members", `{"enum":[` + manyInts(35) + `]}`, `99`, `at (root): 99 is not one of ` + strings.ReplaceAll(manyInts(30), ",", ", ") + `, … (5 more)`},
		{"many allowed fields", strings.Replace(manyKeys(35), `{`, `{"additionalProperties":false,`, 1), `{"zz":1}`, `unknown field "zz" at (root); allowed fields: ` + strings.ReplaceAll(strings.TrimPrefix(strings.ReplaceAll(","+manyInts(30), ",", ",k"), ","), ",", ", ") + `, … (5 more)` + "\n" + strings.Join(strings.Split(manyMissing(35), "\n")[:9], "\n") + "\n(26 more violations not shown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check(t, compile(t, tt.schema), tt.data, tt.want)
		})
	}
}

func manyInts(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = itoa(i)
	}
	return strings.Join(parts, ",")
}

// manyKeys is an object schema with n required integer properties.
func manyKeys(n int) string {
	var props, req []string
	for i := range n {
		props = append(props, `"k`+itoa(i)+`":{"type":"integer"}`)
		req = append(req, `"k`+itoa(i)+`"`)
	}
	return `{"type":"object","properties":{` + strings.Join(props, ",") + `},"required":[` + strings.Join(req, ",") + `]}`
}

// manyMissing is the error for manyKeys(n+1) given only the last key: the
// first MaxViolations missing fields and a count of the rest.
func manyMissing(n int) string {
	var lines []string
	for i := range MaxViolations {
		lines = append(lines, `missing required field "k`+itoa(i)+`" at (root)`)
	}
	return strings.Join(lines, "\n") + "\n(" + itoa(n-MaxViolations) + " more violations not shown)"
}

func TestValidateDepth(t *testing.T) {
	t.Parallel()

	v := compile(t, `true`)
	ok := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	require.NoError(t, v.Validate([]byte(ok)))
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	err := v.Validate([]byte(deep))
	require.ErrorContains(t, err, "invalid JSON at offset 10000: exceeded max depth")

	// A recursive schema follows the nesting of the data.
	v = compile(t, `{"type":"array","items":{"$ref":"#"}}`)
	require.NoError(t, v.Validate([]byte(ok)))
	require.ErrorContains(t, v.Validate([]byte(deep)), "exceeded max depth")
}

func TestValidateConcurrent(t *testing.T) {
	t.Parallel()

	v := compile(t, string(mustFor[testOrder](t)))
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				if err := v.Validate([]byte(`{"id":1,"items":[{"name":"a","count":1}]}`)); err != nil {
					errs <- err
					return
				}
				if v.Validate([]byte(`{"id":"x"}`)) == nil {
					errs <- errors.New("invalid input accepted")
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		require.NoError(t, <-errs)
	}
}

func mustFor[T any](t *testing.T) []byte {
	t.Helper()
	b, err := For[T]()
	require.NoError(t, err)
	return b
}

// TestValidateDeepAlternatives checks that alternatives nested along a
// recursive schema cost time polynomial in the depth, valid or not.
func TestValidateDeepAlternatives(t *testing.T) {
	t.Parallel()

	v := compile(t, `{"$ref":"#/$defs/Node","$defs":{"Node":{"type":"object","properties":{
		"v":{"type":"integer"},
		"next":{"oneOf":[{"$ref":"#/$defs/Node"},{"type":"null"}]}},"required":["v"],"additionalProperties":false}}}`)
	const depth = 2000
	valid := strings.Repeat(`{"v":1,"next":`, depth) + `null` + strings.Repeat(`}`, depth)
	require.NoError(t, v.Validate([]byte(valid)))
	invalid := strings.Repeat(`{"v":1,"next":`, depth) + `{"v":"x","next":null}` + strings.Repeat(`}`, depth)
	err := v.Validate([]byte(invalid))
	require.ErrorContains(t, err, `at "`+strings.Repeat("next.", depth)+`v": expected integer, got string "x"`)
}
