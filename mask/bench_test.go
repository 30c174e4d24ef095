package mask

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// randomSecrets returns n secret values shaped like real ones: API tokens, keys, passwords with
// punctuation, of 12 to 64 bytes.
func randomSecrets(r *rand.Rand, n int) []string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const punct = alnum + "!#$%&'()*+,-./:;<=>?@[]^_{|}~ "
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		switch i % 4 {
		case 0:
			b.WriteString("ghp_")
			for range 36 {
				b.WriteByte(alnum[r.IntN(len(alnum))])
			}
		case 1:
			for range 40 {
				b.WriteByte(alnum[r.IntN(len(alnum))])
			}
		case 2:
			for range 12 + r.IntN(8) {
				b.WriteByte(punct[r.IntN(len(punct))])
			}
		default:
			for range 16 + r.IntN(48) {
				b.WriteByte(alnum[r.IntN(len(alnum))])
			}
		}
		out[i] = b.String()
	}
	return out
}

// logLike returns about size bytes of build output: compiler and test lines, downloads, paths,
// timestamps, some of them coloured.
func logLike(r *rand.Rand, size int) []byte {
	words := []string{"widget", "server", "internal", "parser", "config", "handler", "store", "client",
		"auth", "token", "cache", "build", "runtime", "vendor", "testdata", "util", "proto", "api"}
	w := func() string { return words[r.IntN(len(words))] }
	var b strings.Builder
	b.Grow(size + 256)
	for b.Len() < size {
		switch r.IntN(10) {
		case 0:
			fmt.Fprintf(&b, "# github.com/acme/%s/%s/%s\n", w(), w(), w())
		case 1:
			fmt.Fprintf(&b, "%s/%s/%s.go:%d:%d: undefined: %s%s\n", w(), w(), w(), r.IntN(900)+1, r.IntN(80)+1, w(), strings.ToUpper(w()[:1]))
		case 2:
			fmt.Fprintf(&b, "gcc -O2 -Wall -fPIC -Iinclude -c src/%s/%s.c -o build/%s/%s.o\n", w(), w(), w(), w())
		case 3:
			fmt.Fprintf(&b, "[%3d%%] Building CXX object src/CMakeFiles/%s.dir/%s_%s.cpp.o\n", r.IntN(101), w(), w(), w())
		case 4:
			fmt.Fprintf(&b, "ok  \tgithub.com/acme/%s/%s\t%d.%03ds\n", w(), w(), r.IntN(10), r.IntN(1000))
		case 5:
			fmt.Fprintf(&b, "\x1b[32m--- PASS\x1b[0m: Test%s%s (0.%02ds)\n", strings.ToUpper(w()[:1]), w(), r.IntN(100))
		case 6:
			fmt.Fprintf(&b, "npm WARN deprecated %s@%d.%d.%d: use %s-%s instead\n", w(), r.IntN(9), r.IntN(20), r.IntN(30), w(), w())
		case 7:
			fmt.Fprintf(&b, "Downloading https://registry.example.com/%s/-/%s-%d.%d.%d.tgz (%d kB)\n", w(), w(), r.IntN(9), r.IntN(20), r.IntN(30), r.IntN(5000))
		case 8:
			fmt.Fprintf(&b, "2025-%02d-%02dT%02d:%02d:%02d.%03dZ INFO %s: %s %s finished in %dms\n", r.IntN(12)+1, r.IntN(28)+1, r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), w(), w(), w(), r.IntN(5000))
		default:
			fmt.Fprintf(&b, "\x1b[1;33mwarning\x1b[0m: unused variable '%s_%s' [-Wunused-variable]\n", w(), w())
		}
	}
	return []byte(b.String())
}

var benchLog = sync.OnceValue(func() []byte { return logLike(rand.New(rand.NewPCG(1, 2)), 64<<20) })

// BenchmarkWriter measures masking throughput on 64 MB of build output, written in 32 KiB
// chunks as a pipe delivers them: without secrets in it (the common case, where the cost is
// finding nothing), and with a secret in one line of a hundred.
func BenchmarkWriter(b *testing.B) {
	clean := benchLog()
	for _, n := range []int{10, 1000} {
		secrets := randomSecrets(rand.New(rand.NewPCG(3, uint64(n))), n)
		m, err := New(secrets)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) { benchWriter(b, m, clean) })
		if n == 1000 {
			leaky := withSecrets(clean, secrets)
			b.Run(fmt.Sprintf("secrets=%d/printed", n), func(b *testing.B) { benchWriter(b, m, leaky) })
		}
	}
}

func benchWriter(b *testing.B, m *Masker, input []byte) {
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		w := NewWriter(m, io.Discard)
		for p := input; len(p) > 0; {
			c := p[:min(len(p), 32<<10)]
			p = p[len(c):]
			if _, err := w.Write(c); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(m.Len()), "forms")
}

// withSecrets returns log with one line in a hundred ending in a secret or its base64.
func withSecrets(log []byte, secrets []string) []byte {
	r := rand.New(rand.NewPCG(5, 5))
	var out bytes.Buffer
	for i, line := range bytes.SplitAfter(log, []byte("\n")) {
		if i%100 == 99 {
			line = bytes.TrimSuffix(line, []byte("\n"))
			s := secrets[r.IntN(len(secrets))]
			if r.IntN(2) == 0 {
				s = base64.StdEncoding.EncodeToString([]byte(s))
			}
			line = fmt.Appendf(nil, "%s token=%s\n", line, s)
		}
		out.Write(line)
	}
	return out.Bytes()
}

// BenchmarkNew measures building a Masker of 1,000 secrets, which happens once per job.
func BenchmarkNew(b *testing.B) {
	secrets := randomSecrets(rand.New(rand.NewPCG(3, 1000)), 1000)
	for b.Loop() {
		if _, err := New(secrets); err != nil {
			b.Fatal(err)
		}
	}
}
