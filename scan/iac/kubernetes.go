package iac

import (
	"bytes"
	"fmt"
)

// parseKubernetes returns one document per Kubernetes object in a (multi-document) YAML file;
// the items of a "kind: List" become objects of their own. YAML documents that are not
// Kubernetes objects (no apiVersion and kind) are ignored.
func parseKubernetes(data []byte) ([]Document, error) {
	nodes, err := yamlDocs(data)
	var docs []Document
	for _, n := range nodes {
		c := &yamlConv{annotate: true}
		v, cerr := c.value(n, 0)
		if cerr != nil {
			return docs, cerr
		}
		obj, ok := v.(map[string]any)
		if !ok || !isK8sObject(obj) {
			continue
		}
		if obj["kind"] == "List" {
			items, _ := obj["items"].([]any)
			for _, it := range items {
				if o, ok := it.(map[string]any); ok && isK8sObject(o) {
					docs = append(docs, k8sDocument(o))
				}
			}
			continue
		}
		docs = append(docs, k8sDocument(obj))
	}
	return docs, err
}

func isK8sObject(obj map[string]any) bool {
	k, ok1 := obj["kind"].(string)
	a, ok2 := obj["apiVersion"].(string)
	return ok1 && ok2 && k != "" && a != ""
}

func k8sDocument(obj map[string]any) Document {
	return Document{Kind: KindKubernetes, Line: lineOf(obj, ""), Address: k8sAddress(obj), Input: obj, Plain: plain(obj)}
}

// k8sAddress names an object as Kind/namespace/name (Kind/name when it has no namespace).
func k8sAddress(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if name == "" {
		name, _ = md["generateName"].(string)
	}
	if ns, _ := md["namespace"].(string); ns != "" {
		return fmt.Sprintf("%s/%s/%s", obj["kind"], ns, name)
	}
	return fmt.Sprintf("%s/%s", obj["kind"], name)
}

// looksLikeKubernetes is a cheap test for YAML that may hold Kubernetes objects.
func looksLikeKubernetes(data []byte) bool {
	return bytes.Contains(data, []byte("apiVersion")) && bytes.Contains(data, []byte("kind"))
}

// isTemplated reports Helm or other Go-template sources, which are not YAML before rendering.
func isTemplated(data []byte) bool {
	return bytes.Contains(data, []byte("{{")) && bytes.Contains(data, []byte("}}")) && !bytes.Contains(data, []byte("${{"))
}
