package mask

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzWriter checks, for any secret of at least 8 bytes put anywhere in any text, written in any
// pieces with Flushes between some of them, that the output does not show the secret, and that
// text without any form of it passes unchanged.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("s3cr3t-Value_42"), []byte("before "), []byte(" after\n"), uint64(1))
	f.Add([]byte("line one is long\n{\n}"), []byte("x"), []byte("{\n}\n"), uint64(2))
	f.Add([]byte("12345678"), []byte("\x1b["), []byte("m"), uint64(3))
	f.Add([]byte("sec\rret-val"), []byte("\x1b[31m"), []byte("\x1b[0m\r\n"), uint64(4))
	f.Add([]byte("aaaaaaaaaa"), []byte("aaaa"), []byte("aaa"), uint64(5))
	f.Fuzz(func(t *testing.T, secret, prefix, suffix []byte, seed uint64) {
		m, err := New([]string{string(secret)})
		if len(visible(secret)) < prefixLen {
			if err == nil {
				t.Fatalf("New accepted %q", secret)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		text := append(append(bytes.Clone(prefix), secret...), suffix...)

		r := rand.New(rand.NewPCG(seed, seed>>32))
		var out bytes.Buffer
		w := NewWriter(m, &out)
		for p := text; len(p) > 0; {
			c := p[:min(len(p), 1+r.IntN(20))]
			p = p[len(c):]
			if _, err := w.Write(c); err != nil {
				t.Fatal(err)
			}
			if r.IntN(8) == 0 {
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got := out.Bytes()

		// The secret must not show, as the reader of the log sees it (escapes and CRs do not
		// show), nor, when no escape sequence can change how it reads, byte for byte. A secret
		// with "*" in it could be made of "***" and its surroundings.
		if bytes.IndexByte(secret, '*') < 0 {
			if bytes.Contains(visible(got), visible(secret)) {
				t.Fatalf("secret %q shows in %q (input %q)", secret, got, text)
			}
			if bytes.IndexByte(text, 0x1b) < 0 && bytes.Contains(got, secret) {
				t.Fatalf("secret %q is in %q (input %q)", secret, got, text)
			}
		}

		// Text in which no form occurs passes unchanged.
		vis := visible(text)
		for _, nd := range m.needles {
			if bytes.Contains(vis, []byte(nd)) || bytes.Contains(text, []byte(nd)) {
				return
			}
		}
		if !bytes.Equal(got, text) {
			t.Fatalf("text without forms changed: %q → %q", text, got)
		}
	})
}
