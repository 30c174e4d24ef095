package mask

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// forms returns the texts a job may print for the secret value v (see New for the list). Some
// may be duplicates or too short; the caller filters them.
func forms(v []byte) [][]byte {
	var out [][]byte
	add := func(s ...string) {
		for _, x := range s {
			out = append(out, []byte(x))
		}
	}
	out = append(out, v)

	// The lines of a multi-line value, for a job that prints one of them (a key's body, one
	// line of a certificate). visible drops the "\r" of CRLF lines later.
	if bytes.IndexByte(v, '\n') >= 0 {
		for _, line := range bytes.Split(v, []byte("\n")) {
			out = append(out, line, bytes.TrimSpace(line))
		}
	}

	nl := append(bytes.Clone(v), '\n') // `echo "$SECRET" | …` encodes the value and a newline
	var b64 []string                   // standard base64 texts that may themselves be encoded
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for _, x := range [][]byte{v, nl} {
			add(enc.EncodeToString(x), enc.WithPadding(base64.NoPadding).EncodeToString(x))
		}
		add(cores(v, 3, enc.WithPadding(base64.NoPadding).EncodeToString)...)
	}
	b64 = append(b64, base64.StdEncoding.EncodeToString(v), base64.StdEncoding.EncodeToString(nl)+"\n")
	b64 = append(b64, cores(v, 3, base64.RawStdEncoding.EncodeToString)...)
	for _, inner := range b64 {
		in := []byte(inner)
		add(base64.StdEncoding.EncodeToString(in))
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			add(cores(in, 3, enc.EncodeToString)...)
		}
	}

	for _, enc := range []*base32.Encoding{base32.StdEncoding, base32.HexEncoding} {
		add(enc.EncodeToString(v), enc.EncodeToString(nl))
		add(cores(v, 5, enc.WithPadding(base32.NoPadding).EncodeToString)...)
	}

	h := hex.EncodeToString(v)
	add(h, strings.ToUpper(h))

	q, p := url.QueryEscape(string(v)), url.PathEscape(string(v))
	add(q, p, lowerEscapes(q), lowerEscapes(p))

	add(jsonString(v, true), jsonString(v, false), pythonJSON(v))
	add(unquote(strconv.Quote(string(v))), unquote(strconv.QuoteToASCII(string(v))))

	s := string(v)
	add(strings.ReplaceAll(s, "'", `'\''`), strings.ReplaceAll(s, "'", `'"'"'`))
	add(shellDoubleQuoted(s), shellBackslashed(s))
	return out
}

// cores returns, for each of the align byte alignments at which v can sit inside a longer
// encoded text, the part of that text determined by v's bytes alone. encode is an unpadded
// encoder: base64 (align 3, 6 bits a character) or base32 (align 5, 5 bits a character). With k
// filler bytes before v, character j covers bits [w*j, w*j+w) of the input and v occupies bits
// [8k, 8k+8n): the characters inside that range depend on nothing else, whatever the filler is
// and whatever follows, so they are what appears wherever v is encoded at that alignment.
func cores(v []byte, align int, encode func([]byte) string) []string {
	w := 6
	if align == 5 {
		w = 5
	}
	out := make([]string, 0, align)
	for k := 0; k < align; k++ {
		buf := make([]byte, k+len(v))
		copy(buf[k:], v)
		e := encode(buf)
		start, end := (8*k+w-1)/w, (8*k+8*len(v))/w
		if end > start {
			out = append(out, e[start:end])
		}
	}
	return out
}

// lowerEscapes returns s with the hex digits of its %XX escapes in lower case, as some encoders
// write them.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerHex(b[i+1]), lowerHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// unquote strips the quotes that strconv.Quote and json add around a string.
func unquote(s string) string { return s[1 : len(s)-1] }

// jsonString returns v as the inside of a JSON string written by Go's encoding/json.
func jsonString(v []byte, escapeHTML bool) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(escapeHTML)
	_ = e.Encode(string(v)) // a string always encodes
	return unquote(strings.TrimSuffix(b.String(), "\n"))
}

// pythonJSON returns v as the inside of a JSON string written by Python's json.dumps, whose
// default ensure_ascii escapes every non-ASCII character as \uXXXX (surrogate pairs beyond the
// BMP).
func pythonJSON(v []byte) string {
	var b strings.Builder
	s := string(v)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20:
				fmt.Fprintf(&b, `\u%04x`, r)
			case r < 0x80:
				b.WriteRune(r)
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	return b.String()
}

// shellDoubleQuoted returns s as the inside of a double-quoted shell word.
func shellDoubleQuoted(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '"', '$', '`':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// shellBackslashed returns s with the characters special to the shell escaped by a backslash,
// as bash's printf %q (sh_backslash_quote) writes it.
func shellBackslashed(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte(" \t\n'\"\\|&;()<>!{}*[?]^$`,", c) >= 0,
			i == 0 && (c == '#' || c == '~'):
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
