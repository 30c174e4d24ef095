package iac

import (
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// unknownKey marks a Terraform value that cannot be known without a plan (a variable, another
// resource's attribute, most function calls): {"__unknown__": true, "expr": source text,
// "refs": ["var.x", "aws_s3_bucket.logs"]}. Rules treat it as "not a literal": a rule that
// looks for a bad literal does not fire, a rule that looks for a missing setting is satisfied.
const unknownKey = "__unknown__"

// parseTerraform reads one .tf file (HCL native syntax). The input for rules is
//
//	{"resources": [block], "data": [block], "providers": [block], "modules": [block],
//	 "variables": [block], "outputs": [block], "terraform": [block], "locals": [block]}
//
// where a block is {"type", "name", "address", "labels", "line", "end_line",
// "attributes": {name: value}, "lines": {name: line}, "blocks": {type: [block]}}.
// Attribute values are evaluated where they are literals (strings, numbers, bools, lists,
// objects, templates without interpolation, jsonencode of literals) and an unknown marker
// (see unknownKey) otherwise; dynamic blocks appear as blocks of their label's type with the
// content's attributes. The conftest-compatible form follows hcl2json: {"resource": {type:
// {name: [body]}}, ...} with unknown values as "${expression}" strings.
func parseTerraform(path string, data []byte) ([]Document, error) {
	f, diags := hclsyntax.ParseConfig(data, path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil, nil
	}
	c := &tfConv{src: data}
	in := map[string]any{}
	for _, k := range []string{"resources", "data", "providers", "modules", "variables", "outputs", "terraform", "locals"} {
		in[k] = []any{}
	}
	for _, blk := range body.Blocks {
		b := c.block(blk)
		var key, addr string
		switch blk.Type {
		case "resource":
			key = "resources"
			if len(blk.Labels) == 2 {
				b["type"], b["name"] = blk.Labels[0], blk.Labels[1]
				addr = blk.Labels[0] + "." + blk.Labels[1]
			}
		case "data":
			key = "data"
			if len(blk.Labels) == 2 {
				b["type"], b["name"] = blk.Labels[0], blk.Labels[1]
				addr = "data." + blk.Labels[0] + "." + blk.Labels[1]
			}
		case "provider":
			key = "providers"
			addr = "provider." + strings.Join(blk.Labels, ".")
			b["name"] = strings.Join(blk.Labels, ".")
		case "module", "variable", "output":
			key = blk.Type + "s"
			addr = blk.Type + "." + strings.Join(blk.Labels, ".")
			b["name"] = strings.Join(blk.Labels, ".")
		case "terraform", "locals":
			key = blk.Type
			addr = blk.Type
		default:
			continue
		}
		b["address"] = addr
		in[key] = append(in[key].([]any), b)
	}
	return []Document{{Kind: KindTerraform, Input: in, Plain: c.hcl2json(body)}}, nil
}

type tfConv struct {
	src []byte
}

func (c *tfConv) block(blk *hclsyntax.Block) map[string]any {
	b := c.body(blk.Body)
	b["type"] = blk.Type
	b["labels"] = strs(blk.Labels)
	b["line"] = blk.TypeRange.Start.Line
	b["end_line"] = blk.Body.SrcRange.End.Line
	return b
}

func (c *tfConv) body(body *hclsyntax.Body) map[string]any {
	attrs := make(map[string]any, len(body.Attributes))
	lines := make(map[string]any, len(body.Attributes))
	for name, a := range body.Attributes {
		attrs[name] = c.expr(a.Expr)
		lines[name] = a.SrcRange.Start.Line
	}
	blocks := map[string]any{}
	for _, blk := range body.Blocks {
		var child map[string]any
		if blk.Type == "dynamic" && len(blk.Labels) == 1 {
			content := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: blk.Body.SrcRange}
			for _, cb := range blk.Body.Blocks {
				if cb.Type == "content" {
					content = cb.Body
				}
			}
			child = c.body(content)
			child["type"] = blk.Labels[0]
			child["labels"] = []any{}
			child["line"] = blk.TypeRange.Start.Line
			child["end_line"] = blk.Body.SrcRange.End.Line
			child["dynamic"] = true
		} else {
			child = c.block(blk)
		}
		t := child["type"].(string)
		list, _ := blocks[t].([]any)
		blocks[t] = append(list, child)
	}
	return map[string]any{"attributes": attrs, "lines": lines, "blocks": blocks}
}

func (c *tfConv) source(r hcl.Range) string {
	if r.Start.Byte >= 0 && r.End.Byte <= len(c.src) && r.Start.Byte <= r.End.Byte {
		return string(c.src[r.Start.Byte:r.End.Byte])
	}
	return ""
}

// expr evaluates e where it is a literal and returns an unknown marker otherwise.
func (c *tfConv) expr(e hclsyntax.Expression) any {
	if len(e.Variables()) == 0 {
		if v, diags := e.Value(nil); !diags.HasErrors() && v.IsWhollyKnown() {
			return ctyToGo(v)
		}
	}
	switch e := e.(type) {
	case *hclsyntax.ObjectConsExpr:
		out := make(map[string]any, len(e.Items))
		for _, it := range e.Items {
			k, diags := it.KeyExpr.Value(nil)
			if diags.HasErrors() || !k.IsKnown() || k.IsNull() || k.Type() != cty.String {
				continue
			}
			out[k.AsString()] = c.expr(it.ValueExpr)
		}
		return out
	case *hclsyntax.TupleConsExpr:
		out := make([]any, len(e.Exprs))
		for i, x := range e.Exprs {
			out[i] = c.expr(x)
		}
		return out
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "jsonencode" && len(e.Args) == 1 {
			return c.expr(e.Args[0])
		}
	case *hclsyntax.TemplateWrapExpr:
		return c.expr(e.Wrapped)
	case *hclsyntax.ParenthesesExpr:
		return c.expr(e.Expression)
	}
	refs := []any{}
	seen := map[string]bool{}
	for _, t := range e.Variables() {
		r := traversalRef(t)
		if r != "" && !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	return map[string]any{unknownKey: true, "expr": c.source(e.Range()), "refs": refs}
}

// traversalRef renders the addressable prefix of a reference: var.x, local.x, module.m,
// data.type.name, or type.name for a resource.
func traversalRef(t hcl.Traversal) string {
	parts := []string{t.RootName()}
	want := 1
	switch t.RootName() {
	case "data":
		want = 2
	case "count", "each", "self", "path", "terraform":
		return ""
	}
	for _, step := range t[1:] {
		if len(parts) > want {
			break
		}
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			break
		}
		parts = append(parts, a.Name)
	}
	return strings.Join(parts, ".")
}

func ctyToGo(v cty.Value) any {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact {
				return i
			}
		}
		f, _ := bf.Float64()
		return f
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, ctyToGo(e))
		}
		return out
	case t.IsMapType() || t.IsObjectType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = ctyToGo(e)
		}
		return out
	}
	return nil
}

// hcl2json renders body the way hcl2json (and so conftest) does.
func (c *tfConv) hcl2json(body *hclsyntax.Body) map[string]any {
	out := map[string]any{}
	for name, a := range body.Attributes {
		out[name] = unknownAsInterpolation(c.expr(a.Expr))
	}
	for _, blk := range body.Blocks {
		m := out
		keys := append([]string{blk.Type}, blk.Labels...)
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		last := keys[len(keys)-1]
		list, _ := m[last].([]any)
		m[last] = append(list, c.hcl2json(blk.Body))
	}
	return out
}

func unknownAsInterpolation(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v[unknownKey] == true {
			return "${" + v["expr"].(string) + "}"
		}
		for k, x := range v {
			v[k] = unknownAsInterpolation(x)
		}
	case []any:
		for i, x := range v {
			v[i] = unknownAsInterpolation(x)
		}
	}
	return v
}
