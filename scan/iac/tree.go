package iac

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Documents handed to built-in rules are annotated: every object carries "__line__", the line
// where it starts, and "__lines__", the line of each of its keys. Rules use them to report
// the line of the offending field. User policies get the same documents without annotations.
const (
	lineKey  = "__line__"
	linesKey = "__lines__"
)

// maxNodes bounds the work of converting one document, so that a YAML alias bomb (a few
// aliases expanding to billions of nodes) is refused instead of exhausting memory.
const maxNodes = 1 << 20

var errTooLarge = errors.New("document too large: more than 1,048,576 values after alias expansion")

// yamlConv converts yaml.v3 nodes to JSON-like values.
type yamlConv struct {
	annotate bool
	nodes    int
}

func (c *yamlConv) value(n *yaml.Node, depth int) (any, error) {
	c.nodes++
	if c.nodes > maxNodes || depth > 200 {
		return nil, errTooLarge
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, nil
		}
		return c.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.value(item, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2+2)
		var lines map[string]any
		if c.annotate {
			lines = make(map[string]any, len(n.Content)/2)
			out[lineKey] = n.Line
			out[linesKey] = lines
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag != "!!str" {
				if err := c.merge(out, lines, vn, depth); err != nil {
					return nil, err
				}
				continue
			}
			v, err := c.value(vn, depth+1)
			if err != nil {
				return nil, err
			}
			key := k.Value
			if k.Kind != yaml.ScalarNode {
				key = fmt.Sprint(k.Value)
			}
			out[key] = v
			if lines != nil {
				lines[key] = k.Line
			}
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(n), nil
	}
	return nil, nil
}

// merge applies a YAML merge key ("<<: *base"): keys of the merged mappings that the mapping
// does not set itself.
func (c *yamlConv) merge(out map[string]any, lines map[string]any, n *yaml.Node, depth int) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var srcs []*yaml.Node
	switch n.Kind {
	case yaml.MappingNode:
		srcs = []*yaml.Node{n}
	case yaml.SequenceNode:
		srcs = n.Content
	}
	for _, s := range srcs {
		v, err := c.value(s, depth+1)
		if err != nil {
			return err
		}
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		ml, _ := m[linesKey].(map[string]any)
		for k, v := range m {
			if k == lineKey || k == linesKey {
				continue
			}
			if _, set := out[k]; !set {
				out[k] = v
				if lines != nil {
					lines[k] = ml[k]
				}
			}
		}
	}
	return nil
}

func scalar(n *yaml.Node) any {
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	return n.Value
}

// yamlDocs splits data into its YAML documents. A syntax error after some documents returns
// those documents and the error.
func yamlDocs(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		docs = append(docs, &n)
	}
}

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex []int // offsets of each '\n'

func newLineIndex(data []byte) lineIndex {
	var idx lineIndex
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, i)
		}
	}
	return idx
}

func (li lineIndex) line(off int64) int {
	return sort.SearchInts(li, int(off)) + 1
}

// jsonTree decodes JSON into annotated values (see lineKey) using the decoder's offsets.
type jsonTree struct {
	dec   *json.Decoder
	lines lineIndex
	data  []byte
	nodes int
}

func parseJSONTree(data []byte) (any, error) {
	t := &jsonTree{dec: json.NewDecoder(bytes.NewReader(data)), lines: newLineIndex(data), data: data}
	t.dec.UseNumber()
	v, err := t.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := t.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the top-level value")
	}
	return v, nil
}

// tokenLine is the line of the token that ends at the decoder's current offset.
func (t *jsonTree) tokenLine() int {
	off := t.dec.InputOffset() - 1
	for off > 0 && off < int64(len(t.data)) && isJSONSpace(t.data[off]) {
		off--
	}
	return t.lines.line(off)
}

func isJSONSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

func (t *jsonTree) value(depth int) (any, error) {
	t.nodes++
	if t.nodes > maxNodes || depth > 200 {
		return nil, errTooLarge
	}
	tok, err := t.dec.Token()
	if err != nil {
		return nil, err
	}
	return t.fromToken(tok, depth)
}

func (t *jsonTree) fromToken(tok json.Token, depth int) (any, error) {
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			obj := map[string]any{lineKey: t.tokenLine()}
			lines := map[string]any{}
			obj[linesKey] = lines
			for t.dec.More() {
				kt, err := t.dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %T", kt)
				}
				lines[k] = t.tokenLine()
				v, err := t.value(depth + 1)
				if err != nil {
					return nil, err
				}
				obj[k] = v
			}
			_, err := t.dec.Token() // '}'
			return obj, err
		case '[':
			arr := []any{}
			for t.dec.More() {
				v, err := t.value(depth + 1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := t.dec.Token() // ']'
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", tok)
	default:
		return tok, nil
	}
}

// plain returns a copy of an annotated value without the line annotations.
func plain(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if k == lineKey || k == linesKey {
				continue
			}
			out[k] = plain(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	}
	return v
}

// lineOf returns the line of key in an annotated object, or of the object itself.
func lineOf(obj map[string]any, key string) int {
	if ls, ok := obj[linesKey].(map[string]any); ok {
		if l, ok := ls[key].(int); ok {
			return l
		}
	}
	l, _ := obj[lineKey].(int)
	return l
}
