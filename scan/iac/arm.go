package iac

import (
	"bytes"
	"strings"
)

// looksLikeARM is a cheap test for an Azure Resource Manager deployment template.
func looksLikeARM(data []byte) bool {
	return bytes.Contains(data, []byte("$schema")) && bytes.Contains(data, []byte("eploymentTemplate"))
}

// parseARM reads an ARM template. The input for rules is
//
//	{"schema": ..., "parameters": {...}, "resources": [...]}
//
// where resources is flat: nested child resources are listed after their parent with their
// full type ("Microsoft.Sql/servers/firewallRules") and full name ("server/rule") in "type"
// and "name", and "parent" naming the parent. Every object carries line annotations.
func parseARM(data []byte) ([]Document, error) {
	v, err := parseJSONTree(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if err != nil {
		return nil, err
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, nil
	}
	schema, _ := root["$schema"].(string)
	if !strings.Contains(strings.ToLower(schema), "deploymenttemplate") {
		return nil, nil
	}
	pl := plain(root)
	var flat []any
	var walk func(rs any, parentType, parentName string)
	walk = func(rs any, parentType, parentName string) {
		var list []any
		switch rs := rs.(type) {
		case []any:
			list = rs
		case map[string]any: // languageVersion 2.0: resources keyed by symbolic name
			for k, r := range rs {
				if k != lineKey && k != linesKey {
					list = append(list, r)
				}
			}
		}
		for _, r := range list {
			res, ok := r.(map[string]any)
			if !ok {
				continue
			}
			t, _ := res["type"].(string)
			n, _ := res["name"].(string)
			if parentType != "" {
				if !strings.Contains(t, "/") || !strings.Contains(t, ".") {
					t = parentType + "/" + t
				}
				if !strings.HasPrefix(n, "[") && strings.Count(n, "/") < strings.Count(t, "/")-1 {
					n = parentName + "/" + n
				}
				res["parent"] = parentName
			}
			res["type"] = t
			res["name"] = n
			flat = append(flat, res)
			if children, ok := res["resources"]; ok {
				walk(children, t, n)
			}
		}
	}
	walk(root["resources"], "", "")
	params, _ := root["parameters"].(map[string]any)
	if params == nil {
		params = map[string]any{}
	}
	input := map[string]any{"schema": schema, "parameters": params, "resources": flat}
	return []Document{{Kind: KindARM, Input: input, Plain: pl}}, nil
}
