package gemini

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonEqual compares two JSON documents by value.
func jsonEqual(t *testing.T, got any, want string) {
	t.Helper()
	gb, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	json.Unmarshal(gb, &g)
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got\n%s\nwant\n%s", gb, compactJSON(want))
	}
}

func compactJSON(s string) string {
	var v any
	json.Unmarshal([]byte(s), &v)
	b, _ := json.Marshal(v)
	return string(b)
}

// The refused keywords and the supported subset are those of Gemini's
// Schema (protos.google.ai.generativelanguage.v1beta.ISchema; Firebase AI
// Logic reference SchemaShared: string formats "enum" and "date-time" only).
func TestCleanSchema(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"json schema keywords dropped",
			`{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"urn:x","$comment":"c","type":"object",
			  "additionalProperties":false,"patternProperties":{"^x":{}},"examples":[{"a":"b"}],"title":"T",
			  "properties":{"a":{"type":"string","minLength":1,"maxLength":9,"pattern":"^[a-z]+$","readOnly":true}},"required":["a"]}`,
			`{"type":"object","title":"T","properties":{"a":{"type":"string","minLength":1,"maxLength":9,"pattern":"^[a-z]+$"}},"required":["a"]}`},
		{"$defs ref inlined, siblings win",
			`{"type":"object","properties":{"u":{"$ref":"#/$defs/unit","description":"the unit"}},
			  "$defs":{"unit":{"type":"string","enum":["c","f"],"description":"a unit"}}}`,
			`{"type":"object","properties":{"u":{"type":"string","enum":["c","f"],"description":"the unit"}}}`},
		{"definitions and any pointer",
			`{"type":"object","properties":{"a":{"$ref":"#/definitions/a"},"b":{"$ref":"#/properties/a"},"c":{"$ref":"#/definitions/x~1y"}},
			  "definitions":{"a":{"type":"integer","minimum":0},"x/y":{"type":"boolean"}}}`,
			`{"type":"object","properties":{"a":{"type":"integer","minimum":0},"b":{"type":"integer","minimum":0},"c":{"type":"boolean"}}}`},
		{"recursive ref cut after two levels",
			`{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","description":"A node","properties":{
			  "name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}}}`,
			`{"type":"object","description":"A node","properties":{"name":{"type":"string"},"children":{"type":"array","items":
			  {"type":"object","description":"A node","properties":{"name":{"type":"string"},"children":{"type":"array","items":
			    {"type":"object","description":"A node"}}}}}}}`},
		{"root self reference",
			`{"type":"object","properties":{"next":{"$ref":"#"}}}`,
			`{"type":"object","properties":{"next":{"type":"object","properties":{"next":{"type":"object","properties":{"next":{"type":"object"}}}}}}}`},
		{"unresolvable ref dropped",
			`{"type":"object","properties":{"a":{"$ref":"https://example.com/a.json","description":"remote"}}}`,
			`{"type":"object","properties":{"a":{"description":"remote"}}}`},
		{"allOf merged",
			`{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
			  {"properties":{"b":{"type":"number"}},"required":["b"]}],"description":"both"}`,
			`{"type":"object","description":"both","properties":{"a":{"type":"string"},"b":{"type":"number"}},"required":["a","b"]}`},
		{"anyOf with null is nullable, one left is merged",
			`{"anyOf":[{"type":"string","format":"date-time"},{"type":"null"}],"description":"when"}`,
			`{"type":"string","format":"date-time","nullable":true,"description":"when"}`},
		{"oneOf becomes anyOf",
			`{"oneOf":[{"type":"string"},{"type":"integer"}]}`,
			`{"anyOf":[{"type":"string"},{"type":"integer"}]}`},
		{"type list",
			`{"type":["string","null"],"description":"d"}`,
			`{"type":"string","nullable":true,"description":"d"}`},
		{"type list of two types",
			`{"type":["string","integer","null"],"minimum":1,"description":"d"}`,
			`{"anyOf":[{"type":"string"},{"type":"integer","minimum":1}],"nullable":true,"description":"d"}`},
		{"const and enum",
			`{"type":"object","properties":{"k":{"const":"fixed"},"e":{"enum":["a",null]},"n":{"type":"integer","enum":[1,2,3]},"s":{"type":"string","enum":[1,"b"]}}}`,
			`{"type":"object","properties":{"k":{"type":"string","enum":["fixed"]},"e":{"type":"string","enum":["a"],"nullable":true},
			  "n":{"type":"integer","description":"Allowed values: 1, 2, 3."},"s":{"type":"string","enum":["1","b"]}}}`},
		{"formats",
			`{"type":"object","properties":{"t":{"type":"string","format":"date-time"},"e":{"type":"string","format":"email","description":"Mail."},
			  "u":{"type":"string","format":"uuid"},"i":{"type":"integer","format":"int64"},"k":{"type":"string","format":"enum","enum":["x"]}}}`,
			`{"type":"object","properties":{"t":{"type":"string","format":"date-time"},"e":{"type":"string","description":"Mail. Format: email."},
			  "u":{"type":"string","description":"Format: uuid."},"i":{"type":"integer","description":"Format: int64."},"k":{"type":"string","format":"enum","enum":["x"]}}}`},
		{"defaults kept only when they fit",
			`{"type":"object","properties":{"a":{"type":"string","default":"x"},"b":{"type":"integer","default":"x"},"c":{"type":"boolean","default":null},"d":{"type":"number","default":1.5}}}`,
			`{"type":"object","properties":{"a":{"type":"string","default":"x"},"b":{"type":"integer"},"c":{"type":"boolean"},"d":{"type":"number","default":1.5}}}`},
		{"arrays",
			`{"type":"object","properties":{"t":{"type":"array","items":[{"type":"string"},{"type":"number"}]},"l":{"items":{"type":"string"},"minItems":1,"uniqueItems":true}}}`,
			`{"type":"object","properties":{"t":{"type":"array","items":{"type":"string"}},"l":{"type":"array","items":{"type":"string"},"minItems":1}}}`},
		{"required names only known properties",
			`{"type":"object","properties":{"a":{"type":"string"}},"required":["a","ghost",7],"propertyOrdering":["a","ghost"]}`,
			`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"propertyOrdering":["a"]}`},
		{"numbers keep their text",
			`{"type":"integer","minimum":12345678901234567890,"maximum":1e3}`,
			`{"type":"integer","minimum":12345678901234567890,"maximum":1e3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cleanSchema(json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, tc.want)
			again, _ := json.Marshal(got)
			twice, _ := cleanSchema(again)
			if !reflect.DeepEqual(normal(t, got), normal(t, twice)) {
				t.Errorf("cleaning is not idempotent: %s", again)
			}
		})
	}
	if _, err := cleanSchema(json.RawMessage(`["not","a","schema"]`)); err == nil {
		t.Error("an array was accepted as a schema")
	}
}

func normal(t *testing.T, v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// TestCleanSchemaMutualRecursion: definitions that refer to each other end.
func TestCleanSchemaMutualRecursion(t *testing.T) {
	in := `{"$ref":"#/$defs/a","$defs":{"a":{"type":"object","properties":{"b":{"$ref":"#/$defs/b"}}},"b":{"type":"object","properties":{"a":{"$ref":"#/$defs/a"},"c":{"$ref":"#/$defs/c"}}},
	  "c":{"type":"array","items":{"anyOf":[{"$ref":"#/$defs/a"},{"$ref":"#/$defs/b"},{"$ref":"#/$defs/c"}]}}}}`
	got, err := cleanSchema(json.RawMessage(in))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), "$ref") || len(b) > 1<<20 {
		t.Errorf("%d bytes: %.300s", len(b), b)
	}
}
