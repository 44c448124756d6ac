package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The official JSON-Schema-Test-Suite, draft 2020-12, for the supported
// keywords: testdata/suite/README.md says where the files come from.

// suiteGroup is one group of a suite file: a schema and instances.
type suiteGroup struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Tests       []struct {
		Description string          `json:"description"`
		Data        json.RawMessage `json:"data"`
		Valid       bool            `json:"valid"`
	} `json:"tests"`
}

// suiteUncompiled lists every group whose schema Compile rejects with
// ErrUnsupported, by "file: group", with the reason. A group missing here
// must compile, and a group listed here must not.
var suiteUncompiled = map[string]string{
	"additionalProperties.json: additionalProperties with propertyNames":                   "unsupported keyword propertyNames",
	"additionalProperties.json: dependentSchemas with additionalProperties":                "unsupported keyword dependentSchemas",
	"content.json: validation of binary-encoded media type documents with schema":          "unsupported keyword contentSchema",
	"defs.json: validate definition against metaschema":                                    "reference to another document",
	"items.json: items and subitems":                                                       "unsupported keyword prefixItems",
	"items.json: items does not look in applicators, valid case":                           "unsupported keyword prefixItems",
	"items.json: items with heterogeneous array":                                           "unsupported keyword prefixItems",
	"items.json: prefixItems validation adjusts the starting index for items":              "unsupported keyword prefixItems",
	"items.json: prefixItems with no additional items allowed":                             "unsupported keyword prefixItems",
	"not.json: collect annotations inside a 'not', even if collection is disabled":         "unsupported keyword unevaluatedProperties",
	"ref.json: $id must be resolved against nearest parent, not just immediate parent":     "reference to another document",
	"ref.json: Recursive references between schemas":                                       "reference to another document",
	"ref.json: URN base URI with URN and JSON pointer ref":                                 "reference to another document",
	"ref.json: URN base URI with URN and anchor ref":                                       "reference to another document",
	"ref.json: URN ref with nested pointer ref":                                            "reference to another document",
	"ref.json: order of evaluation: $id and $anchor and $ref":                              "reference to an anchor",
	"ref.json: order of evaluation: $id and $ref":                                          "reference to another document",
	"ref.json: order of evaluation: $id and $ref on nested schema":                         "reference to another document",
	"ref.json: ref creates new scope when adjacent to keywords":                            "unsupported keyword unevaluatedProperties",
	"ref.json: ref to else":                                                                "reference to another document",
	"ref.json: ref to if":                                                                  "reference to another document",
	"ref.json: ref to then":                                                                "reference to another document",
	"ref.json: ref with absolute-path-reference":                                           "reference to another document",
	"ref.json: refs with relative uris and defs":                                           "reference to another document",
	"ref.json: relative pointer ref to array":                                              "unsupported keyword prefixItems",
	"ref.json: relative refs with absolute uris and defs":                                  "reference to another document",
	"ref.json: remote ref, containing refs itself":                                         "reference to another document",
	"ref.json: simple URN base URI with $ref via the URN":                                  "reference to another document",
	"uniqueItems.json: uniqueItems with an array of items":                                 "unsupported keyword prefixItems",
	"uniqueItems.json: uniqueItems with an array of items and additionalItems=false":       "unsupported keyword prefixItems",
	"uniqueItems.json: uniqueItems=false with an array of items":                           "unsupported keyword prefixItems",
	"uniqueItems.json: uniqueItems=false with an array of items and additionalItems=false": "unsupported keyword prefixItems",
}

// suiteDivergent lists every test, by "file: group: test", where Validate
// deliberately gives another verdict than the suite, with the reason.
var suiteDivergent = map[string]string{
	// Draft 2020-12 makes contentEncoding an annotation; Compile asserts
	// base64 so that the string decodes into a []byte (doc.go).
	"content.json: validation of binary string-encoding: an invalid base64 string (% is not a valid character); validates true":    "base64 asserted",
	"content.json: validation of binary-encoded media type documents: an invalid base64 string that is valid JSON; validates true": "base64 asserted",
	// Draft 2020-12 makes format an annotation by default; Compile
	// asserts date-time so that the string decodes into a time.Time.
	"format.json: date-time format: invalid date-time string is only an annotation by default": "date-time asserted",
	// time.Time's parser has no leap seconds and wants T and Z in
	// capitals; Compile keeps to what decodes into a time.Time.
	"optional/format/date-time.json: validation of date-time strings: a valid date-time with a leap second, UTC":               "date-time follows time.Time",
	"optional/format/date-time.json: validation of date-time strings: a valid date-time with a leap second, with minus offset": "date-time follows time.Time",
	"optional/format/date-time.json: validation of date-time strings: case-insensitive T and Z":                                "date-time follows time.Time",
}

// TestJSONSchemaTestSuite runs the suite's tests for the supported
// keywords. Groups whose schema uses something Compile does not support
// must be rejected by Compile (suiteUncompiled, which is checked both
// ways); every test of every other group must get the suite's verdict,
// save those in suiteDivergent.
func TestJSONSchemaTestSuite(t *testing.T) {
	t.Parallel()

	root := filepath.Join("testdata", "suite", "tests", "draft2020-12")
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, files)

	uncompiled := map[string]string{}
	divergent := map[string]bool{}
	var passed int
	for _, path := range files {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var groups []suiteGroup
		require.NoError(t, json.Unmarshal(data, &groups), path)
		name := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		for _, g := range groups {
			gkey := name + ": " + g.Description
			v, err := Compile(g.Schema)
			if err != nil {
				require.ErrorIs(t, err, ErrUnsupported, "%s: the suite's schemas are all valid", gkey)
				uncompiled[gkey] = err.Error()
				continue
			}
			for _, tc := range g.Tests {
				key := gkey + ": " + tc.Description
				got := v.Validate(tc.Data)
				if (got == nil) == tc.Valid {
					passed++
					continue
				}
				if _, ok := suiteDivergent[key]; ok {
					divergent[key] = true
					continue
				}
				t.Errorf("%s\nschema %s\ninstance %s\nsuite says valid=%v, Validate says %v", key, g.Schema, tc.Data, tc.Valid, got)
			}
		}
	}
	for key, msg := range uncompiled {
		if _, ok := suiteUncompiled[key]; !ok {
			t.Errorf("Compile rejects the schema of %q, which is not listed as uncompiled: %s", key, msg)
		}
	}
	for key := range suiteUncompiled {
		if _, ok := uncompiled[key]; !ok {
			t.Errorf("%q is listed as uncompiled, but Compile accepts it", key)
		}
	}
	for key := range suiteDivergent {
		if !divergent[key] {
			t.Errorf("%q is listed as divergent, but Validate agrees with the suite", key)
		}
	}
	if t.Failed() {
		var keys []string
		for k := range uncompiled {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Logf("%q: %q,", k, uncompiled[k])
		}
	}
	t.Logf("%d tests passed, %d divergent as listed, %d groups not compiled as listed", passed, len(divergent), len(uncompiled))
	require.Greater(t, passed, 500)
}
