package iac

import (
	"encoding/json"
	"path"
	"strings"
)

// isDockerfileName reports Dockerfile, Containerfile, Dockerfile.<variant> (Dockerfile.dev)
// and <name>.Dockerfile, in any case. Dockerfile.<ext> with the extension of a source, data
// or template file (dockerfile.go, Dockerfile.j2) is not a Dockerfile.
func isDockerfileName(p string) bool {
	b := strings.ToLower(path.Base(p))
	if b == "dockerfile" || b == "containerfile" || strings.HasSuffix(b, ".dockerfile") || strings.HasSuffix(b, ".containerfile") {
		return true
	}
	for _, prefix := range []string{"dockerfile.", "containerfile."} {
		if variant, ok := strings.CutPrefix(b, prefix); ok {
			return !notDockerfileExt[path.Ext("."+variant)]
		}
	}
	return false
}

var notDockerfileExt = map[string]bool{
	".go": true, ".py": true, ".js": true, ".ts": true, ".rb": true, ".rs": true, ".java": true,
	".kt": true, ".c": true, ".h": true, ".cpp": true, ".cs": true, ".php": true, ".sh": true,
	".md": true, ".txt": true, ".json": true, ".yaml": true, ".yml": true, ".toml": true,
	".rego": true, ".tf": true, ".j2": true, ".tmpl": true, ".tpl": true, ".template": true,
	".erb": true, ".mustache": true, ".html": true, ".bak": true, ".orig": true, ".swp": true,
}

// instruction is one Dockerfile instruction.
type instruction struct {
	Cmd      string   // lower case: "from", "run", ...
	Flags    []string // leading --name=value options
	Value    string   // the arguments after the flags, continuation lines joined with a space
	Args     []string // Value split on white space, or the elements of the JSON form
	JSON     bool     // exec (JSON array) form
	Original string
	Line     int
	EndLine  int
	Heredocs []string // bodies of <<EOF here-documents
	Stage    int
}

// parseDockerfileInstructions splits a Dockerfile into instructions. It handles the escape
// parser directive, comments, continuation lines (with comment and blank lines inside them),
// JSON form and here-documents. It never fails: unknown text becomes an instruction whose Cmd
// is its first word.
func parseDockerfileInstructions(data []byte) []instruction {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	escape := byte('\\')
	var out []instruction
	stage := -1
	directives := true
	for i := 0; i < len(lines); i++ {
		raw := strings.TrimSpace(lines[i])
		if raw == "" {
			continue
		}
		if strings.HasPrefix(raw, "#") {
			if directives {
				d := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(raw, "#"), " ", ""))
				if strings.HasPrefix(d, "escape=") && len(d) == len("escape=")+1 {
					escape = d[len(d)-1]
				}
			}
			continue
		}
		directives = false
		start := i
		text := raw
		for strings.HasSuffix(text, string(escape)) && i+1 < len(lines) {
			text = strings.TrimSpace(strings.TrimSuffix(text, string(escape)))
			i++
			for i < len(lines) {
				next := strings.TrimSpace(lines[i])
				if next == "" || strings.HasPrefix(next, "#") {
					if i+1 < len(lines) {
						i++
						continue
					}
				}
				break
			}
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				next = ""
			}
			text = text + " " + next
		}
		text = strings.TrimSuffix(text, string(escape))
		cmd, rest, _ := strings.Cut(text, " ")
		if tab := strings.IndexByte(cmd, '\t'); tab >= 0 {
			rest = cmd[tab+1:] + " " + rest
			cmd = cmd[:tab]
		}
		ins := instruction{Cmd: strings.ToLower(cmd), Line: start + 1, Original: text}
		rest = strings.TrimSpace(rest)
		if ins.Cmd == "from" {
			stage++
		}
		ins.Stage = max(stage, 0)
		// Flags.
		if ins.Cmd != "onbuild" {
			for strings.HasPrefix(rest, "--") {
				f, r, _ := strings.Cut(rest, " ")
				ins.Flags = append(ins.Flags, f)
				rest = strings.TrimSpace(r)
			}
		}
		ins.Value = rest
		if strings.HasPrefix(rest, "[") {
			var arr []string
			if json.Unmarshal([]byte(rest), &arr) == nil {
				ins.JSON = true
				ins.Args = arr
			}
		}
		if !ins.JSON {
			ins.Args = strings.Fields(rest)
		}
		// Here-documents: RUN <<EOF ... EOF (several may follow one instruction).
		for _, a := range ins.Args {
			if !strings.HasPrefix(a, "<<") || ins.JSON {
				continue
			}
			word := strings.Trim(strings.TrimPrefix(strings.TrimPrefix(a, "<<"), "-"), `"'`)
			if word == "" {
				continue
			}
			var body []string
			for i+1 < len(lines) {
				i++
				if strings.TrimSpace(lines[i]) == word {
					break
				}
				body = append(body, lines[i])
			}
			ins.Heredocs = append(ins.Heredocs, strings.Join(body, "\n"))
		}
		ins.EndLine = i + 1
		out = append(out, ins)
	}
	return out
}

// parseDockerfile returns the Dockerfile as one document. The input for rules is
//
//	{"instructions": [{"cmd", "flags", "value", "args", "json", "original", "line",
//	                   "end_line", "stage", "heredocs", "pairs"}],
//	 "stages": [{"index", "image", "name", "line", "platform"}]}
//
// "value" of RUN includes the bodies of its here-documents; "pairs" lists the key/value pairs
// of ENV, ARG and LABEL. The conftest-compatible form is conftest's: a list of
// {"Cmd", "Flags", "Value", "Original", "JSON", "Stage", "SubCmd"}.
func parseDockerfile(data []byte) ([]Document, error) {
	ins := parseDockerfileInstructions(data)
	list := make([]any, 0, len(ins))
	conf := make([]any, 0, len(ins))
	var stages []any
	for _, in := range ins {
		value := in.Value
		for _, h := range in.Heredocs {
			value += "\n" + h
		}
		m := map[string]any{
			"cmd": in.Cmd, "flags": strs(in.Flags), "value": value, "args": strs(in.Args),
			"json": in.JSON, "original": in.Original, "line": in.Line, "end_line": in.EndLine,
			"stage": in.Stage, "heredocs": strs(in.Heredocs),
		}
		switch in.Cmd {
		case "env", "arg", "label":
			m["pairs"] = keyValues(in.Cmd, in.Value)
		case "from":
			st := map[string]any{"index": in.Stage, "line": in.Line, "image": "", "name": ""}
			if len(in.Args) > 0 {
				st["image"] = in.Args[0]
			}
			if len(in.Args) >= 3 && strings.EqualFold(in.Args[1], "as") {
				st["name"] = in.Args[2]
			}
			for _, f := range in.Flags {
				if v, ok := strings.CutPrefix(f, "--platform="); ok {
					st["platform"] = v
				}
			}
			stages = append(stages, st)
		}
		list = append(list, m)
		conf = append(conf, conftestInstruction(in))
	}
	if stages == nil {
		stages = []any{}
	}
	input := map[string]any{"instructions": list, "stages": stages}
	return []Document{{Kind: KindDockerfile, Input: input, Plain: conf}}, nil
}

func conftestInstruction(in instruction) map[string]any {
	var value []string
	sub := ""
	switch {
	case in.JSON:
		value = in.Args
	case in.Cmd == "run" || in.Cmd == "cmd" || in.Cmd == "entrypoint" || in.Cmd == "shell":
		value = []string{in.Value}
	case in.Cmd == "env" || in.Cmd == "arg" || in.Cmd == "label":
		for _, p := range keyValues(in.Cmd, in.Value) {
			kv := p.(map[string]any)
			value = append(value, kv["key"].(string), kv["value"].(string))
		}
	case in.Cmd == "onbuild":
		sub, _, _ = strings.Cut(strings.ToLower(in.Value), " ")
		value = []string{in.Value}
	default:
		value = in.Args
	}
	return map[string]any{"Cmd": in.Cmd, "Flags": strs(in.Flags), "Value": strs(value),
		"Original": in.Original, "JSON": in.JSON, "Stage": in.Stage, "SubCmd": sub}
}

// keyValues splits "k=v k2="v 2"" (or the legacy "ENV k v") into pairs.
func keyValues(cmd, s string) []any {
	out := []any{}
	words := shellWords(s)
	if len(words) == 0 {
		return out
	}
	if cmd == "env" && !strings.Contains(words[0], "=") && len(words) > 1 {
		k, v, _ := strings.Cut(strings.TrimSpace(s), " ")
		return append(out, map[string]any{"key": k, "value": unquote(strings.TrimSpace(v)), "has_value": true})
	}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		out = append(out, map[string]any{"key": k, "value": unquote(v), "has_value": ok})
	}
	return out
}

// shellWords splits on unquoted white space, keeping quotes in the words.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			quote = c
			cur.WriteByte(c)
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(c)
			cur.WriteByte(s[i+1])
			i++
		case c == ' ' || c == '\t':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
