package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// mergeJSON deep-merges the JSON document over into base: objects are
// merged key by key, recursively; any other value of over (an array, a
// string, null) replaces base's. base's keys keep their order, over's
// new keys follow in theirs, so that a configuration file the image had
// reads as it did, with the recipe's entries added. The result is
// indented by two spaces.
func mergeJSON(base, over []byte) ([]byte, error) {
	b, err := decodeJSON(base)
	if err != nil {
		return nil, fmt.Errorf("not JSON (%v)", err)
	}
	o, err := decodeJSON(over)
	if err != nil {
		return nil, fmt.Errorf("the recipe's content is not JSON (%v)", err)
	}
	var out bytes.Buffer
	if err := encodeJSON(&out, mergeValue(b, o), ""); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// jsonObject is a JSON object with its keys in their order.
type jsonObject struct {
	keys []string
	vals map[string]any
}

func mergeValue(base, over any) any {
	bo, ok1 := base.(*jsonObject)
	oo, ok2 := over.(*jsonObject)
	if !ok1 || !ok2 {
		return over
	}
	for _, k := range oo.keys {
		if old, ok := bo.vals[k]; ok {
			bo.vals[k] = mergeValue(old, oo.vals[k])
		} else {
			bo.keys = append(bo.keys, k)
			bo.vals[k] = oo.vals[k]
		}
	}
	return bo
}

// decodeJSON reads one JSON document, objects as *jsonObject, numbers as
// json.Number (kept as written).
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one value")
	}
	return v, nil
}

// maxJSONDepth bounds how deep a document mergeJSON reads may nest: a
// configuration file is a few levels deep, and the image's file is not
// trusted with the host's memory (written out indented, a file of 100 KB
// nested 20,000 deep is 800 MB).
const maxJSONDepth = 64

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') && depth >= maxJSONDepth {
		return nil, fmt.Errorf("nested too deep (more than %d levels)", maxJSONDepth)
	}
	switch tok {
	case json.Delim('{'):
		obj := &jsonObject{vals: map[string]any{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string) // the decoder gives an object's keys as strings
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			if _, dup := obj.vals[k]; !dup {
				obj.keys = append(obj.keys, k)
			}
			obj.vals[k] = v // the last of a duplicate key wins, as encoding/json has it
		}
		_, err := dec.Token() // '}'
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token() // ']'
		return arr, err
	}
	return tok, nil // string, json.Number, bool, nil
}

func encodeJSON(w *bytes.Buffer, v any, indent string) error {
	inner := indent + "  "
	switch v := v.(type) {
	case *jsonObject:
		if len(v.keys) == 0 {
			w.WriteString("{}")
			return nil
		}
		w.WriteString("{\n")
		for i, k := range v.keys {
			w.WriteString(inner)
			if err := encodeScalar(w, k); err != nil {
				return err
			}
			w.WriteString(": ")
			if err := encodeJSON(w, v.vals[k], inner); err != nil {
				return err
			}
			if i < len(v.keys)-1 {
				w.WriteByte(',')
			}
			w.WriteByte('\n')
		}
		w.WriteString(indent + "}")
	case []any:
		if len(v) == 0 {
			w.WriteString("[]")
			return nil
		}
		w.WriteString("[\n")
		for i, e := range v {
			w.WriteString(inner)
			if err := encodeJSON(w, e, inner); err != nil {
				return err
			}
			if i < len(v)-1 {
				w.WriteByte(',')
			}
			w.WriteByte('\n')
		}
		w.WriteString(indent + "]")
	default:
		return encodeScalar(w, v)
	}
	return nil
}

func encodeScalar(w *bytes.Buffer, v any) error {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	w.WriteString(strings.TrimSuffix(b.String(), "\n"))
	return nil
}
