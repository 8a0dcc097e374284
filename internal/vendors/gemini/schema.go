package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Gemini's Schema is a subset of OpenAPI 3.0, not JSON Schema: it knows
// type, format, title, description, nullable, enum, properties, required,
// propertyOrdering, items, anyOf, minimum/maximum, min/maxLength,
// min/maxItems, min/maxProperties, pattern, example and default, and
// answers 400 to anything else (protos.google.ai.generativelanguage.v1beta.ISchema
// in @google-ai/generativelanguage; Gemini API reference "Schema"). Its
// string formats are only "enum" and "date-time" (Firebase AI Logic
// reference, SchemaShared.format: "When using the Gemini Developer API ...
// this must be either 'enum' or 'date-time', otherwise requests will fail").
//
// cleanSchema rewrites a client's JSON Schema into that subset:
//   - $ref is inlined from $defs, definitions or any local JSON pointer, with
//     a guard that cuts recursive structures after a few levels;
//   - allOf is merged; oneOf becomes anyOf; a {"type":"null"} alternative,
//     a "null" in a type list or a null in enum becomes nullable;
//   - type: [X, Y] becomes anyOf of each type;
//   - const becomes a one-value enum; enum values become strings, and an
//     enum on a non-string type is moved into the description;
//   - a format Gemini refuses is dropped and named in the description;
//   - default is kept only when it fits the type;
//   - everything else ($schema, $id, $comment, additionalProperties,
//     examples, patternProperties, not, if/then/else, ...) is dropped.
//
// Keywords Gemini knows but the client spelled wrongly (a string minimum)
// are dropped too, so what comes out is always a valid Gemini schema.
func cleanSchema(raw json.RawMessage) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("a JSON Schema must be an object")
	}
	sc := &schemaCleaner{root: root}
	return sc.clean(root, nil), nil
}

const (
	// maxRefRepeat is how many times one $ref may be expanded inside
	// itself: a recursive tree keeps this many levels.
	maxRefRepeat = 2
	// maxRefDepth bounds nested $ref expansions along one path, whatever
	// the refs, so that mutually recursive definitions end too.
	maxRefDepth = 16
)

type schemaCleaner struct {
	root map[string]any
}

// clean returns the Gemini form of the schema v. refs are the $refs being
// expanded around v, innermost last.
func (sc *schemaCleaner) clean(v any, refs []string) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{} // true, false or garbage: no constraint
	}
	if ref, ok := m["$ref"].(string); ok {
		return sc.cleanRef(ref, m, refs)
	}
	if all, ok := m["allOf"].([]any); ok {
		m = sc.mergeAllOf(m, all, refs)
	}

	out := map[string]any{}
	types, nullable := schemaTypes(m["type"])
	if b, _ := m["nullable"].(bool); b {
		nullable = true
	}
	desc, _ := m["description"].(string)
	if t, ok := m["title"].(string); ok && t != "" {
		out["title"] = t
	}

	if len(types) > 1 {
		// type: ["string", "number"]: one alternative per type.
		var alts []any
		for _, t := range types {
			alt := make(map[string]any, len(m))
			for k, x := range m {
				switch k {
				case "type", "nullable", "description", "title", "anyOf", "oneOf":
				default:
					alt[k] = x
				}
			}
			alt["type"] = t
			alts = append(alts, sc.clean(alt, refs))
		}
		out["anyOf"] = alts
		if desc != "" {
			out["description"] = desc
		}
		if nullable {
			out["nullable"] = true
		}
		return out
	}
	typ := ""
	if len(types) == 1 {
		typ = types[0]
	}

	// anyOf / oneOf: null alternatives become nullable; one alternative
	// left is merged into this schema.
	var single map[string]any
	var alts []any
	for _, key := range []string{"anyOf", "oneOf"} {
		list, _ := m[key].([]any)
		for _, x := range list {
			if isNullSchema(x) {
				nullable = true
				continue
			}
			alts = append(alts, sc.clean(x, refs))
		}
	}
	switch len(alts) {
	case 0:
	case 1:
		single = alts[0].(map[string]any)
	default:
		out["anyOf"] = alts
	}

	var notes []string
	if vals, ok := enumValues(m); ok {
		var strs []string
		allStrings := true
		for _, x := range vals {
			if x == nil {
				nullable = true
				continue
			}
			s, isStr := x.(string)
			if !isStr {
				allStrings = false
				b, _ := json.Marshal(x)
				s = string(b)
			}
			strs = append(strs, s)
		}
		if typ == "" && allStrings && len(strs) > 0 {
			typ = "string"
		}
		switch {
		case len(strs) == 0:
		case strings.EqualFold(typ, "string"):
			out["enum"] = strs
		default:
			// Gemini takes enum on strings only; keep the constraint
			// where the model can still read it.
			notes = append(notes, "Allowed values: "+strings.Join(strs, ", ")+".")
		}
	}
	if f, ok := m["format"].(string); ok && f != "" {
		if strings.EqualFold(typ, "string") && (f == "enum" || f == "date-time") {
			out["format"] = f
		} else {
			notes = append(notes, "Format: "+f+".")
		}
	}

	if props, ok := m["properties"].(map[string]any); ok {
		if typ == "" {
			typ = "object"
		}
		cleaned := make(map[string]any, len(props))
		for k, p := range props {
			cleaned[k] = sc.clean(p, refs)
		}
		if len(cleaned) > 0 {
			out["properties"] = cleaned
		}
		if req, ok := m["required"].([]any); ok {
			var keep []string
			for _, r := range req {
				if s, ok := r.(string); ok && cleaned[s] != nil {
					keep = append(keep, s)
				}
			}
			if len(keep) > 0 {
				out["required"] = keep
			}
		}
		if order, ok := m["propertyOrdering"].([]any); ok {
			var keep []string
			for _, o := range order {
				if s, ok := o.(string); ok && cleaned[s] != nil {
					keep = append(keep, s)
				}
			}
			if len(keep) > 0 {
				out["propertyOrdering"] = keep
			}
		}
	}
	switch it := m["items"].(type) {
	case map[string]any:
		out["items"] = sc.clean(it, refs)
	case []any: // draft-04 tuple: the first position is the best single guess
		if len(it) > 0 {
			out["items"] = sc.clean(it[0], refs)
		}
	}
	if _, ok := out["items"]; ok && typ == "" {
		typ = "array"
	}
	// Constraints only where they apply: an alternative of a type list
	// keeps those of its own type.
	for _, k := range []string{"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"} {
		if n, ok := m[k].(json.Number); ok && appliesTo(k, typ) {
			out[k] = n
		}
	}
	if p, ok := m["pattern"].(string); ok && appliesTo("pattern", typ) {
		out["pattern"] = p
	}
	if ex, ok := m["example"]; ok && ex != nil {
		out["example"] = ex
	}
	if def, ok := m["default"]; ok && defaultFits(typ, def) {
		out["default"] = def
	}
	if len(notes) > 0 {
		if desc != "" {
			desc += " "
		}
		desc += strings.Join(notes, " ")
	}
	if desc != "" {
		out["description"] = desc
	}
	if typ != "" {
		out["type"] = typ
	}
	if nullable {
		out["nullable"] = true
	}
	for k, x := range single {
		if _, ok := out[k]; !ok {
			out[k] = x
		}
	}
	return out
}

// cleanRef inlines the schema ref points to, with the referring schema's
// other keywords applied over it.
func (sc *schemaCleaner) cleanRef(ref string, m map[string]any, refs []string) map[string]any {
	target := sc.resolve(ref)
	repeat := 0
	for _, r := range refs {
		if r == ref {
			repeat++
		}
	}
	if target == nil || repeat >= maxRefRepeat || len(refs) >= maxRefDepth {
		// Unresolvable, or recursion cut here: keep what can be said
		// without expanding further.
		stub := make(map[string]any, len(m))
		for k, x := range m {
			if k != "$ref" {
				stub[k] = x
			}
		}
		if target != nil {
			for _, k := range []string{"type", "description", "title"} {
				if _, ok := stub[k]; !ok && target[k] != nil {
					stub[k] = target[k]
				}
			}
		}
		return sc.clean(stub, refs)
	}
	merged := make(map[string]any, len(target)+len(m))
	for k, x := range target {
		merged[k] = x
	}
	for k, x := range m {
		if k != "$ref" {
			merged[k] = x
		}
	}
	return sc.clean(merged, append(refs[:len(refs):len(refs)], ref))
}

// resolve follows a local reference ("#", "#/$defs/Node", any JSON
// pointer into the root). Remote references resolve to nil.
func (sc *schemaCleaner) resolve(ref string) map[string]any {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	var cur any = sc.root
	if frag != "" {
		if !strings.HasPrefix(frag, "/") {
			return nil
		}
		for _, tok := range strings.Split(frag[1:], "/") {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch c := cur.(type) {
			case map[string]any:
				cur = c[tok]
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(c) {
					return nil
				}
				cur = c[i]
			default:
				return nil
			}
		}
	}
	m, _ := cur.(map[string]any)
	return m
}

// mergeAllOf folds allOf's schemas into m: properties and required are
// united, other keywords fill in what m leaves unsaid.
func (sc *schemaCleaner) mergeAllOf(m map[string]any, all []any, refs []string) map[string]any {
	out := make(map[string]any, len(m))
	for k, x := range m {
		if k != "allOf" {
			out[k] = x
		}
	}
	props, _ := out["properties"].(map[string]any)
	props = copyMap(props)
	req, _ := out["required"].([]any)
	req = append([]any(nil), req...)
	for _, sub := range all {
		s := sc.clean(sub, refs)
		for k, x := range s {
			switch k {
			case "properties":
				for pk, pv := range x.(map[string]any) {
					if _, ok := props[pk]; !ok {
						props[pk] = pv
					}
				}
			case "required":
				for _, r := range x.([]string) {
					req = append(req, r)
				}
			default:
				if _, ok := out[k]; !ok {
					out[k] = x
				}
			}
		}
	}
	if len(props) > 0 {
		out["properties"] = props
	}
	if len(req) > 0 {
		out["required"] = req
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// schemaTypes reads "type", a name or a list of names, splitting off
// "null".
func schemaTypes(v any) (types []string, nullable bool) {
	add := func(x any) {
		s, ok := x.(string)
		switch {
		case !ok || s == "":
		case s == "null":
			nullable = true
		default:
			types = append(types, s)
		}
	}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			add(x)
		}
		return types, nullable
	}
	add(v)
	return types, nullable
}

// isNullSchema reports whether x only admits null.
func isNullSchema(x any) bool {
	m, ok := x.(map[string]any)
	if !ok {
		return false
	}
	types, nullable := schemaTypes(m["type"])
	return nullable && len(types) == 0
}

// enumValues is "enum", or "const" as a one-value enum.
func enumValues(m map[string]any) ([]any, bool) {
	if e, ok := m["enum"].([]any); ok {
		return e, true
	}
	if c, ok := m["const"]; ok {
		return []any{c}, true
	}
	return nil, false
}

// appliesTo reports whether a constraint keyword means anything for typ
// (an untyped schema keeps them all).
func appliesTo(keyword, typ string) bool {
	var want []string
	switch keyword {
	case "minimum", "maximum":
		want = []string{"number", "integer"}
	case "minLength", "maxLength", "pattern":
		want = []string{"string"}
	case "minItems", "maxItems":
		want = []string{"array"}
	case "minProperties", "maxProperties":
		want = []string{"object"}
	}
	if typ == "" {
		return true
	}
	for _, w := range want {
		if strings.EqualFold(typ, w) {
			return true
		}
	}
	return false
}

// defaultFits reports whether a default value is of the schema's type;
// Gemini refuses one that is not.
func defaultFits(typ string, v any) bool {
	switch v.(type) {
	case string:
		return strings.EqualFold(typ, "string")
	case json.Number:
		return strings.EqualFold(typ, "number") || strings.EqualFold(typ, "integer")
	case bool:
		return strings.EqualFold(typ, "boolean")
	case []any:
		return strings.EqualFold(typ, "array")
	case map[string]any:
		return strings.EqualFold(typ, "object")
	}
	return false
}
