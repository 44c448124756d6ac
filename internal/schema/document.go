package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// jkind is the JSON type of a jvalue.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jvalue is a parsed JSON value of a schema document. Unlike map[string]any
// it keeps object members in document order, so that "properties" keep the
// order of the Go struct fields they were reflected from.
type jvalue struct {
	kind jkind
	b    bool
	s    string // the text of a string, or the literal of a number
	arr  []*jvalue
	obj  []jmember
}

// jmember is one member of a JSON object.
type jmember struct {
	key string
	val *jvalue
}

// get returns the member named key, or nil.
func (v *jvalue) get(key string) *jvalue {
	for i := range v.obj {
		if v.obj[i].key == key {
			return v.obj[i].val
		}
	}
	return nil
}

// kindName names the JSON type of v for compile errors.
func (v *jvalue) kindName() string {
	switch v.kind {
	case jNull:
		return "null"
	case jBool:
		return "boolean"
	case jNumber:
		return "number"
	case jString:
		return "string"
	case jArray:
		return "array"
	default:
		return "object"
	}
}

// parseDocument parses a schema document. It rejects invalid JSON,
// trailing data and duplicate object keys.
func parseDocument(data []byte) (*jvalue, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("schema: invalid schema document: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, fmt.Errorf("schema: invalid schema document: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("schema: invalid schema document: data after the top-level value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (*jvalue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jvalue{kind: jNull}, nil
	case bool:
		return &jvalue{kind: jBool, b: t}, nil
	case json.Number:
		return &jvalue{kind: jNumber, s: string(t)}, nil
	case string:
		return &jvalue{kind: jString, s: t}, nil
	case json.Delim:
		if t == '[' {
			v := &jvalue{kind: jArray}
			for dec.More() {
				e, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			_, err := dec.Token() // ']'
			return v, err
		}
		v := &jvalue{kind: jObject}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			if v.get(key) != nil {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			e, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			v.obj = append(v.obj, jmember{key: key, val: e})
		}
		_, err := dec.Token() // '}'
		return v, err
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// render writes v as compact JSON, for messages ("one of ...").
func (v *jvalue) render(sb *strings.Builder) {
	switch v.kind {
	case jNull:
		sb.WriteString("null")
	case jBool:
		sb.WriteString(strconv.FormatBool(v.b))
	case jNumber:
		sb.WriteString(v.s)
	case jString:
		b, _ := json.Marshal(v.s)
		sb.Write(b)
	case jArray:
		sb.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				sb.WriteByte(',')
			}
			e.render(sb)
		}
		sb.WriteByte(']')
	case jObject:
		sb.WriteByte('{')
		for i, m := range v.obj {
			if i > 0 {
				sb.WriteByte(',')
			}
			b, _ := json.Marshal(m.key)
			sb.Write(b)
			sb.WriteByte(':')
			m.val.render(sb)
		}
		sb.WriteByte('}')
	}
}

// String renders v as compact JSON.
func (v *jvalue) String() string {
	var sb strings.Builder
	v.render(&sb)
	return sb.String()
}
