package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// This file sets up github.com/santhosh-tekuri/jsonschema/v6 as the test
// oracle for Validate: a complete, well-kept draft 2020-12 implementation.
// It is imported from _test.go files only (TestOracleStaysOutOfLibrary
// checks that), and configured to assert exactly what this package
// asserts:
//
//   - format assertions are on, but every format other than "date-time"
//     is registered as an always-valid annotation, as Compile treats them
//     ("regex" cannot be overridden, see divergences);
//   - content assertions are on for contentEncoding "base64", and
//     contentMediaType "application/json" is registered as an
//     always-valid annotation.
//
// The differences that remain are listed, exactly, in divergence.

// oracleURL is the URL the oracle compiles each schema document under.
const oracleURL = "http://ratchet.test/schema.json"

// annotationFormats are the formats the oracle knows and Compile treats as
// annotations. "regex" is missing: the oracle does not let it be replaced.
var annotationFormats = []string{
	"json-pointer", "relative-json-pointer", "uuid", "duration", "period",
	"ipv4", "ipv6", "hostname", "email", "date", "time", "uri", "iri",
	"uri-reference", "iri-reference", "uri-template", "semver",
	"idn-email", "idn-hostname", "unknown",
}

// oracle is a compiled oracle schema.
type oracle struct {
	schema []byte
	sch    *jsonschema.Schema
	goTime *jsonschema.Schema // with date-time checked by strictDateTime; made on demand
}

// compileOracle compiles schema with the oracle as a draft 2020-12 document.
// It fails when the oracle rejects the schema, for example because it does
// not validate against the meta-schema.
func compileOracle(schema []byte) (*oracle, error) {
	sch, err := oracleSchema(schema, nil)
	if err != nil {
		return nil, err
	}
	return &oracle{schema: schema, sch: sch}, nil
}

// oracleSchema compiles schema with the oracle. A non-nil dateTime replaces
// the oracle's own date-time check.
func oracleSchema(schema []byte, dateTime func(any) error) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.AssertContent()
	for _, name := range annotationFormats {
		c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(any) error { return nil }})
	}
	if dateTime != nil {
		c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: dateTime})
	}
	c.RegisterContentMediaType(&jsonschema.MediaType{
		Name:     "application/json",
		Validate: func([]byte) error { return nil },
	})
	// No remote documents: a reference out of the document fails to
	// compile, as it does with Compile.
	c.UseLoader(noLoader{})
	if err := c.AddResource(oracleURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(oracleURL)
}

// strictDateTime returns a date-time check that requires both what the
// oracle requires (RFC 3339) and what time.Time's parser requires: the
// stricter of the two. Validate must agree with it.
func strictDateTime() (func(any) error, error) {
	rfc, err := oracleSchema([]byte(`{"format":"date-time"}`), nil)
	if err != nil {
		return nil, err
	}
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		if err := rfc.Validate(s); err != nil {
			return err
		}
		var t time.Time
		return t.UnmarshalText([]byte(s))
	}, nil
}

// valid reports whether the oracle accepts the instance, which must be
// valid JSON.
func (o *oracle) valid(instance []byte) (bool, error) {
	return validWith(o.sch, instance)
}

// validGoTime is valid with date-time checked by both RFC 3339 and
// time.Time's parser (strictDateTime).
func (o *oracle) validGoTime(instance []byte) (bool, error) {
	if o.goTime == nil {
		check, err := strictDateTime()
		if err != nil {
			return false, err
		}
		sch, err := oracleSchema(o.schema, check)
		if err != nil {
			return false, err
		}
		o.goTime = sch
	}
	return validWith(o.goTime, instance)
}

func validWith(sch *jsonschema.Schema, instance []byte) (bool, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(instance))
	if err != nil {
		return false, err
	}
	err = sch.Validate(v)
	var verr *jsonschema.ValidationError
	if err != nil && !errors.As(err, &verr) {
		return false, err
	}
	return err == nil, nil
}

// noLoader refuses to load any document.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, errors.New("no remote documents in tests: " + url)
}

// Divergences: the exact cases where Validate and the oracle may
// legitimately disagree. Each is a documented behaviour of this package
// (doc.go) or a limit of the oracle; nothing else is excused.
const (
	// The oracle sees the text encoding/json decodes, each invalid byte
	// turned into U+FFFD; Validate matches patterns and enums against the
	// raw bytes.
	divInvalidUTF8 = "instance is not valid UTF-8"
	// encoding/json, under the oracle, keeps the last of duplicate
	// members; Validate checks every member.
	divDuplicateKeys = "instance has duplicate object keys"
	// The oracle asserts format "regex" and does not let it be replaced;
	// Compile treats it as an annotation.
	divFormatRegex = `format "regex" is asserted by the oracle`
	// Compile checks date-time with time.Time's parser on the raw text, so
	// that a value that passes decodes into a time.Time: it rejects what
	// time.Time rejects though RFC 3339 allows it (a leap second, a
	// lowercase t or z, see TestDateTimeDivergence) and a date-time written
	// with escapes. Excused when the oracle, requiring time.Time's parser
	// to accept a date-time besides its own check (strictDateTime), agrees,
	// or when the instance has escapes. Validate must never accept a
	// date-time the oracle rejects.
	divDateTime = `format "date-time" follows time.Time`
	// Compile rejects a schema with a cycle of references that applies a
	// schema to the same value again (checkInPlaceCycles); the oracle
	// compiles it and reports the cycle when validation reaches it.
	divRefCycle = "$ref cycle"
)

// divergence returns the listed divergence that excuses a disagreement on
// this schema and instance, or "" when they must agree. It is called only
// once they disagree.
func divergence(v *Validator, o *oracle, schema *jvalue, instance []byte) string {
	if !utf8.Valid(instance) {
		return divInvalidUTF8
	}
	if _, err := parseDocument(instance); err != nil {
		return divDuplicateKeys
	}
	var regex, dateTime bool
	walkSchema(schema, func(kw string, val *jvalue) {
		if kw == "format" && val.kind == jString {
			regex = regex || val.s == "regex"
			dateTime = dateTime || val.s == "date-time"
		}
	})
	if regex {
		return divFormatRegex
	}
	if dateTime {
		if bytes.IndexByte(instance, '\\') >= 0 {
			return divDateTime
		}
		if ok, err := o.validGoTime(instance); err == nil && ok == (v.Validate(instance) == nil) {
			return divDateTime
		}
	}
	return ""
}

// walkSchema calls fn for every member of every object in v. It does not
// tell keywords from data (an enum member may be an object): callers match
// narrowly enough for that not to matter.
func walkSchema(v *jvalue, fn func(key string, val *jvalue)) {
	switch v.kind {
	case jObject:
		for _, m := range v.obj {
			fn(m.key, m.val)
			walkSchema(m.val, fn)
		}
	case jArray:
		for _, e := range v.arr {
			walkSchema(e, fn)
		}
	}
}

// agreement compares Validate with the oracle on one instance, which must
// be valid JSON. It returns "" when they agree or the difference is a
// listed divergence, and a description of the disagreement otherwise.
func agreement(t testing.TB, v *Validator, o *oracle, doc *jvalue, instance []byte) string {
	t.Helper()
	want, err := o.valid(instance)
	if err != nil {
		t.Fatalf("oracle cannot read instance %s: %v", instance, err)
	}
	got := v.Validate(instance)
	if want == (got == nil) || divergence(v, o, doc, instance) != "" {
		return ""
	}
	if want {
		return "oracle accepts, Validate rejects: " + got.Error()
	}
	return "oracle rejects, Validate accepts"
}

// TestOracleStaysOutOfLibrary checks that the oracle is a test-only
// dependency: no package of the module, tests aside, imports it.
func TestOracleStaysOutOfLibrary(t *testing.T) {
	t.Parallel()

	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/ratchet-run/ratchet/...").CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/ratchet-run/ratchet/internal/schema", "go list saw the module")
	for _, dep := range deps {
		require.NotContains(t, dep, "santhosh-tekuri", "a library package imports the test oracle")
	}
}

// FuzzAgainstSanthosh checks that whenever Compile and the oracle both
// compile a schema, Validate and the oracle agree on whether an instance
// is valid, save the listed divergences. Instances that are not JSON are
// FuzzValidate's business.
func FuzzAgainstSanthosh(f *testing.F) {
	g := newGen(7)
	for _, s := range handSchemas() {
		for range 3 {
			f.Add([]byte(s), []byte(g.value(3)))
		}
	}
	for range 200 {
		f.Add([]byte(g.schema()), []byte(g.value(3)))
	}
	f.Fuzz(func(t *testing.T, schema, instance []byte) {
		if !json.Valid(instance) || hugeExponent(schema) || hugeExponent(instance) {
			return
		}
		v, err := Compile(schema)
		if err != nil {
			return
		}
		o, err := compileOracle(schema)
		if err != nil {
			return
		}
		doc, err := parseDocument(schema)
		require.NoError(t, err)
		if msg := agreement(t, v, o, doc, instance); msg != "" {
			t.Fatalf("schema %s\ninstance %s\n%s", schema, instance, msg)
		}
	})
}

// hugeExponent reports whether data holds a number with an exponent over
// 1000, which the oracle expands into a big.Rat at a cost that grows with
// the exponent (1e999999999 takes minutes). Validate compares such
// numbers in constant space; the fuzz target leaves them out so that the
// oracle does not stall it.
func hugeExponent(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != 'e' && data[i] != 'E' || i == 0 || data[i-1] < '0' || data[i-1] > '9' {
			continue
		}
		j := i + 1
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		k := j
		for k < len(data) && data[k] == '0' {
			k++
		}
		n := k
		for n < len(data) && data[n] >= '0' && data[n] <= '9' {
			n++
		}
		if n-k > 4 || (n-k == 4 && string(data[k:n]) > "1000") {
			return true
		}
	}
	return false
}

// TestDateTimeDivergence pins divDateTime down: these are the date-times
// on which Validate and the oracle differ, and the divergence excuses
// each; the last ones show where they agree.
func TestDateTimeDivergence(t *testing.T) {
	t.Parallel()

	const schema = `{"format":"date-time"}`
	v := compile(t, schema)
	o, err := compileOracle([]byte(schema))
	require.NoError(t, err)
	doc, err := parseDocument([]byte(schema))
	require.NoError(t, err)
	tests := []struct {
		instance     string
		oracle, ours bool
	}{
		{`"1998-12-31T23:59:60Z"`, true, false},        // leap second
		{`"1963-06-19t08:30:06.283185z"`, true, false}, // lowercase t and z
		{`"2024-01-02T15:04:05\u005a"`, true, false},   // escaped Z
		{`"1990-12-31T15:59:59-24:00"`, false, false},
		{`"1990-12-31T10:00:00+10:60"`, false, false},
		{`"2024-02-30T00:00:00Z"`, false, false},
		{`"2024-01-02T15:04:05.999+23:59"`, true, true},
	}
	for _, tt := range tests {
		got, err := o.valid([]byte(tt.instance))
		require.NoError(t, err)
		require.Equal(t, tt.oracle, got, "oracle on %s", tt.instance)
		require.Equal(t, tt.ours, v.Validate([]byte(tt.instance)) == nil, "Validate on %s", tt.instance)
		if tt.oracle != tt.ours {
			require.Equal(t, divDateTime, divergence(v, o, doc, []byte(tt.instance)), tt.instance)
		}
		require.Empty(t, agreement(t, v, o, doc, []byte(tt.instance)), tt.instance)
	}
}
