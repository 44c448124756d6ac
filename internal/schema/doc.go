// Package schema validates a model's tool-call arguments (and typed final
// answers) against a JSON Schema before a Go function sees them, and
// reports violations in words a language model can act on.
//
// For reflects a Go struct into the schema sent to the model; Compile turns
// a schema into a Validator once; Validator.Validate checks each call's
// JSON text in a single pass over the bytes, without decoding it, and
// without allocating when the text is valid.
//
//	params, err := schema.For[WeatherArgs]()
//	v, err := schema.Compile(params)
//	err = v.Validate([]byte(`{"citty":"Paris"}`))
//	// unknown field "citty" at (root); allowed fields: city, units (did you mean "city"?)
//	// missing required field "city" at (root)
//
// # Supported keywords
//
// Compile implements what github.com/invopop/jsonschema emits for ordinary
// Go types, in JSON Schema draft 2020-12:
//
//   - type (a name or an array of names), enum, const;
//   - properties, required, additionalProperties (false or a schema),
//     patternProperties, minProperties, maxProperties;
//   - items (a single schema), minItems, maxItems, uniqueItems;
//   - minLength, maxLength (counted in Unicode code points), pattern (Go
//     regexp syntax, unanchored as in JSON Schema), format "date-time"
//     (checked with time.Time's own RFC 3339 parser, on the raw text as
//     time.Time's UnmarshalJSON does, so a date-time written with escapes
//     is rejected; offsets must also be within RFC 3339's range, which
//     time.Time stretches to -24:00 and +10:60), contentEncoding "base64"
//     (checked as encoding/json decodes a []byte);
//   - minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, all
//     compared exactly in decimal, not in float64;
//   - allOf, anyOf, oneOf, not, if/then/else;
//   - $ref to "#" or to a JSON pointer within the document (usually
//     "#/$defs/Name"), including recursive references through
//     properties, items and the other keywords that descend into the
//     value; $defs and definitions. A cycle of references that applies a
//     schema to the same value again, such as {"not": {"$ref": "#"}},
//     would never end, and makes Compile fail.
//
// With both enum and const, a value must satisfy both.
//
// Annotations are ignored: $schema, $id (on the root schema), $anchor,
// $comment, title, description, default, examples, deprecated, readOnly,
// writeOnly, contentMediaType, other formats and content encodings, and
// any keyword starting with "x-". A nested $id, which would change how the
// references within it resolve, and any other keyword, such as
// prefixItems, contains, dependentRequired, propertyNames or
// unevaluatedProperties, makes Compile fail with an error wrapping
// ErrUnsupported, as do references to other documents and patterns Go's
// regexp cannot compile. A schema is never
// accepted with a constraint silently dropped.
//
// Integers follow JSON Schema: 3.0 and 1e2 are integers, 3.5 is not.
// encoding/json is stricter: it will not decode 3.0 into a Go int, nor a
// number outside the range of the Go type. For gives the fixed-size integer
// types their range, which covers the second case for them. Apart from
// such numbers, JSON that Validate accepts against For[T]'s schema decodes
// into T with json.Decoder.DisallowUnknownFields (FuzzValidate checks
// this), unless T uses the ",string" json option or custom unmarshalers.
//
// # Paths
//
// A violation's Path names the offending value. The top-level value is
// (root) (RootPath); object members are joined with dots and array
// elements indexed in brackets: items[2].name. A member name that is not an
// identifier is quoted in brackets: headers["content-type"], ["0"].
// Messages quote paths: at "items[2].name", at (root).
//
// # Messages
//
// Each Violation has a one-line Message, one of these forms:
//
//	invalid JSON: empty input
//	invalid JSON at offset 12: invalid character '}' looking for beginning of object key string; near: {"city":"x",}
//	missing required field "city" at (root)
//	unknown field "citty" at (root); allowed fields: city, units (did you mean "city"?)
//	at "count": expected integer, got string "3"
//	at "units": "kelvin" is not one of "celsius", "fahrenheit"
//	at "kind": expected "circle", got "square"
//	at "age": expected integer >= 18, got 17
//	at "name": expected string of length <= 20, got "aaaaaaaaaaaaaaaaaaaaaaaaa" (length 25)
//	at "code": expected string matching ^[A-Z]{3}$, got "abc"
//	at "when": expected date-time string (RFC 3339, such as 2006-01-02T15:04:05Z), got "tomorrow"
//	at "tags": expected array of length >= 1, got array of length 0
//	at "tags": expected array of unique items, got duplicate items at [0] and [3]
//	at "note": expected string or null, got number 5
//	at (root): expected one of: Circle (object with required fields radius) | Square (object with required fields side); got object {"sides":2}
//
// Offending values are shown compactly and cut after about 40 bytes with
// "…". Invalid JSON is reported alone, as the first syntax error, in
// encoding/json's words. Otherwise up to MaxViolations violations are
// listed in the order of the input (a missing field is noticed at the
// closing brace of its object, so it comes after the problems inside that
// object); Error.Omitted counts the rest.
//
// When no alternative of an anyOf or oneOf matches and exactly one of them
// accepts the value's type (a nullable struct, say), the violations
// against that alternative are reported instead of a summary, since they
// say precisely what to fix.
//
// # Performance
//
// A Validator is compiled once and is safe for concurrent use. Validate
// scans the text once, byte by byte, checking syntax (exactly what
// json.Valid accepts) and schema together, without decoding it: object
// keys are compared in place and numbers are compared as exact decimals
// in place. Validating valid JSON does not allocate, except to unescape an
// object key, or a string checked against a pattern, an enum or base64,
// that contains escapes. Building an Error allocates.
//
// Time is linear in the input for schemas without anyOf, oneOf, not or
// if. An alternative re-scans its value; when only one alternative of an
// anyOf or oneOf accepts the value's type (as with a nullable field), the
// value is validated against it directly, once. A oneOf must try every
// alternative, so a recursive oneOf whose alternatives all accept the same
// deeply nested value costs time exponential in its depth.
package schema
