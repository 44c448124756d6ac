package schema_test

import (
	"errors"
	"fmt"

	"github.com/ratchet-run/ratchet/internal/schema"
)

// WeatherArgs are the arguments of a weather tool.
type WeatherArgs struct {
	City  string `json:"city" jsonschema:"description=City name"`
	Units string `json:"units,omitempty" jsonschema:"enum=celsius,enum=fahrenheit"`
}

func Example() {
	params, err := schema.For[WeatherArgs]()
	if err != nil {
		panic(err)
	}
	fmt.Println(string(params))

	v, err := schema.Compile(params)
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Validate([]byte(`{"city":"Paris","units":"celsius"}`)))

	err = v.Validate([]byte(`{"citty":"Paris","units":"kelvin"}`))
	fmt.Println(err)

	var verr *schema.Error
	if errors.As(err, &verr) {
		for _, viol := range verr.Violations {
			fmt.Printf("%s | %s | %s\n", viol.Path, viol.Keyword, viol.Got)
		}
	}
	// Output:
	// {"properties":{"city":{"type":"string","description":"City name"},"units":{"type":"string","enum":["celsius","fahrenheit"]}},"additionalProperties":false,"type":"object","required":["city"]}
	// <nil>
	// unknown field "citty" at (root); allowed fields: city, units (did you mean "city"?)
	// at "units": "kelvin" is not one of "celsius", "fahrenheit"
	// missing required field "city" at (root)
	// (root) | additionalProperties | field "citty"
	// units | enum | "kelvin"
	// (root) | required | object {"citty":"Paris","units":"kelvin"}
}

func ExampleValidator_Validate_syntax() {
	v, err := schema.Compile([]byte(`{"type":"object"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Validate([]byte("```json\n{\"city\":\"Paris\"}\n```")))
	fmt.Println(v.Validate([]byte(`{"city":"Paris",}`)))
	fmt.Println(v.Validate(nil))
	// Output:
	// invalid JSON at offset 0: invalid character '`' looking for beginning of value; near: ```json {"city":…
	// invalid JSON at offset 16: invalid character '}' looking for beginning of object key string; near: {"city":"Paris",}
	// invalid JSON: empty input
}
