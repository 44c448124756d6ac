package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"
)

// For returns the JSON Schema of T's JSON form, for use as the parameters
// of a tool (or the shape of a typed final answer). T must be a struct
// type or a pointer to one, because tool arguments are a JSON object.
//
// The schema is the one github.com/invopop/jsonschema reflects, with
// settings chosen for language-model tool parameters:
//
//   - The root is the object schema itself ("type": "object",
//     "properties", "required"), not a $ref, and has no "$schema" or
//     "$id".
//   - Every struct type has "additionalProperties": false.
//   - A field is required unless its json tag has omitempty or omitzero;
//     the tag `jsonschema:"required"` makes a field required regardless.
//     A pointer field without omitempty is therefore required, and its
//     schema does not allow null unless tagged `jsonschema:"nullable"`.
//   - Descriptions come from `jsonschema:"description=..."` (or
//     `jsonschema_description`) tags, and the other jsonschema tag
//     keywords (enum, minimum, pattern, ...) apply as documented by
//     invopop/jsonschema. Keywords added with jsonschema_extras should
//     start with "x-": Compile rejects other unknown keywords.
//   - Named struct, slice and map types other than T are emitted once in
//     "$defs" and referenced with "$ref"; a reference back to T itself (a
//     recursive type) is "$ref": "#". Definition names are the Go type
//     names, made unique and reduced to letters, digits and '_' (generic
//     instantiations such as Page[Item] become Page_Item).
//   - The fixed-size integer types int8 to uint32 carry their range as
//     minimum and maximum, and uint and uint64 have "minimum": 0, so that
//     Validate, not json.Unmarshal, reports such values out of range. int,
//     int64 and uint64's maximum are left unstated.
//
// For returns an error when T is not a struct or pointer to struct, or when
// its schema is not an object (time.Time, or a type with its own
// JSONSchema method returning something else).
func For[T any]() ([]byte, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("schema: For[%s]: tool arguments must be a struct or a pointer to a struct, got %s", t, t.Kind())
	}
	n := &namer{names: make(map[reflect.Type]string), used: make(map[string]bool)}
	r := &jsonschema.Reflector{
		Anonymous:      true,
		ExpandedStruct: true,
		Mapper:         integerBounds,
		Namer:          n.name,
	}
	s := r.ReflectFromType(t)
	s.Version = ""
	s.ID = ""
	if s.Type != "object" || s.Ref != "" {
		return nil, fmt.Errorf("schema: For[%s]: the reflected schema is not an object schema", t)
	}
	if root := n.names[t]; root != "" {
		rewriteRefs(s, "#/$defs/"+root, "#", make(map[*jsonschema.Schema]bool))
		delete(s.Definitions, root)
	}
	if len(s.Definitions) == 0 {
		s.Definitions = nil
	}
	out, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("schema: For[%s]: %w", t, err)
	}
	return out, nil
}

// integerBounds gives the predeclared fixed-size integer types their range.
func integerBounds(t reflect.Type) *jsonschema.Schema {
	if t.PkgPath() != "" || t.Name() == "" {
		return nil // named types keep their own schema
	}
	var lo, hi string
	switch t.Kind() {
	case reflect.Int8:
		lo, hi = "-128", "127"
	case reflect.Int16:
		lo, hi = "-32768", "32767"
	case reflect.Int32:
		lo, hi = "-2147483648", "2147483647"
	case reflect.Uint8:
		lo, hi = "0", "255"
	case reflect.Uint16:
		lo, hi = "0", "65535"
	case reflect.Uint32:
		lo, hi = "0", "4294967295"
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		lo = "0"
	default:
		return nil
	}
	return &jsonschema.Schema{Type: "integer", Minimum: json.Number(lo), Maximum: json.Number(hi)}
}

// namer names $defs entries: the Go type name reduced to letters, digits
// and '_', with a numeric suffix when two types share a name.
type namer struct {
	names map[reflect.Type]string
	used  map[string]bool
}

func (n *namer) name(t reflect.Type) string {
	if name, ok := n.names[t]; ok {
		return name
	}
	base := t.Name()
	if base == "" {
		return ""
	}
	if i := strings.IndexByte(base, '['); i >= 0 {
		// Generic instantiation: keep the unqualified argument names.
		args := strings.Split(strings.TrimSuffix(base[i+1:], "]"), ",")
		for j, a := range args {
			a = a[strings.LastIndexAny(a, "./")+1:]
			args[j] = a
		}
		base = base[:i] + "_" + strings.Join(args, "_")
	}
	base = strings.Map(func(r rune) rune {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, base)
	name := base
	for i := 2; n.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	n.used[name] = true
	n.names[t] = name
	return name
}

// rewriteRefs replaces $ref from with to throughout s.
func rewriteRefs(s *jsonschema.Schema, from, to string, seen map[*jsonschema.Schema]bool) {
	if s == nil || seen[s] {
		return
	}
	seen[s] = true
	if s.Ref == from {
		s.Ref = to
	}
	for _, d := range s.Definitions {
		rewriteRefs(d, from, to, seen)
	}
	for _, list := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf, s.PrefixItems} {
		for _, c := range list {
			rewriteRefs(c, from, to, seen)
		}
	}
	for _, c := range []*jsonschema.Schema{s.Not, s.If, s.Then, s.Else, s.Items, s.Contains,
		s.AdditionalProperties, s.PropertyNames, s.ContentSchema} {
		rewriteRefs(c, from, to, seen)
	}
	for _, c := range s.PatternProperties {
		rewriteRefs(c, from, to, seen)
	}
	for _, c := range s.DependentSchemas {
		rewriteRefs(c, from, to, seen)
	}
	if s.Properties != nil {
		for p := s.Properties.Oldest(); p != nil; p = p.Next() {
			rewriteRefs(p.Value, from, to, seen)
		}
	}
}
