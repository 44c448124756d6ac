package schema

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/invopop/jsonschema"
	"github.com/stretchr/testify/require"
)

// The Go types the tests reflect schemas from.

type testWeather struct {
	City  string `json:"city" jsonschema:"description=City name"`
	Units string `json:"units,omitempty" jsonschema:"enum=celsius,enum=fahrenheit"`
}

type testAddress struct {
	Street string `json:"street"`
	City   string `json:"city" jsonschema:"minLength=1,maxLength=20"`
	Zip    string `json:"zip,omitempty" jsonschema:"pattern=^[0-9]{5}$"`
}

type testBase struct {
	Created time.Time `json:"created,omitempty"`
}

type testItem struct {
	Name  string  `json:"name"`
	Count int     `json:"count" jsonschema:"minimum=1,maximum=100"`
	Price float64 `json:"price,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1000,multipleOf=0.01"`
}

type testOrder struct {
	testBase
	ID     int             `json:"id"`
	Units  string          `json:"units,omitempty" jsonschema:"enum=celsius,enum=fahrenheit"`
	Items  []testItem      `json:"items,omitempty" jsonschema:"minItems=1,maxItems=3"`
	Tags   []string        `json:"tags,omitempty" jsonschema:"uniqueItems=true"`
	Ship   *testAddress    `json:"ship,omitempty"`
	Note   *string         `json:"note,omitempty" jsonschema:"nullable"`
	Meta   map[string]int  `json:"meta,omitempty"`
	IMap   map[int]string  `json:"imap,omitempty"`
	Extra  any             `json:"extra,omitempty"`
	Raw    json.RawMessage `json:"raw,omitempty"`
	Data   []byte          `json:"data,omitempty"`
	Flag   bool            `json:"flag,omitempty"`
	Matrix [][]float64     `json:"matrix,omitempty"`
}

type testTree struct {
	Value    int        `json:"value"`
	Children []testTree `json:"children,omitempty"`
}

// form is one way of reflecting a Go type into a schema.
type form struct {
	name   string
	schema []byte
}

// formsOf returns T's schema as For emits it, as invopop's default
// reflector emits it (root $ref into $defs, with $schema and $id) and,
// unless T is recursive, fully expanded with no $defs.
func formsOf[T any](t *testing.T, recursive bool) []form {
	t.Helper()
	forSchema, err := For[T]()
	require.NoError(t, err)
	var zero T
	referenced, err := json.Marshal((&jsonschema.Reflector{}).Reflect(&zero))
	require.NoError(t, err)
	forms := []form{{"For", forSchema}, {"referenced", referenced}}
	if !recursive {
		expanded, err := json.Marshal((&jsonschema.Reflector{DoNotReference: true}).Reflect(&zero))
		require.NoError(t, err)
		forms = append(forms, form{"expanded", expanded})
	}
	return forms
}

// compile compiles a schema, failing the test on error.
func compile(t testing.TB, schema string) *Validator {
	t.Helper()
	v, err := Compile([]byte(schema))
	require.NoError(t, err)
	return v
}

// check validates data and compares the error text ("" for valid).
func check(t *testing.T, v *Validator, data, want string) {
	t.Helper()
	err := v.Validate([]byte(data))
	if want == "" {
		require.NoError(t, err, "input: %s", data)
		return
	}
	require.Error(t, err, "input: %s", data)
	var verr *Error
	require.ErrorAs(t, err, &verr)
	require.Equal(t, want, err.Error(), "input: %s", data)
}
