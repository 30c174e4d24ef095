package mask

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-ci/rampart"
)

// testSecrets are values of the shapes that break maskers: plain, with spaces, quotes and
// characters that every escaping changes, multi-line with short lines, UTF-8, and one whose
// base64 has "+" and "/".
var testSecrets = []struct{ name, value string }{
	{"ascii", "s3cr3t-Value_42"},
	{"punctuation", `pa ss'wo"rd & <x> +%/=`},
	{"multiline", "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n{\n}\nshort\r\nlast line of the key==\n-----END TEST KEY-----"},
	{"utf8", "pässwörd-秘密-🔑-key"},
	{"base64 specials", "key~~~???>>>end"},
}

// encoding is a form a job may print a secret in, written independently of forms() so that the
// test does not check the implementation against itself.
type encoding struct {
	name string
	enc  func(string) string
}

// kept is what stays of a form after its "***": the escapes after its last visible byte.
var kept = map[string]string{"ansi inside": "\x1b[0m"}

func jsonEnc(s string, html bool) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(html)
	if err := e.Encode(s); err != nil {
		panic(err)
	}
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}

var encodings = []encoding{
	{"raw", func(s string) string { return s }},
	{"base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"base64 of echo", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s + "\n")) }},
	{"base64 url", func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }},
	{"base64 trimmed", func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }},
	{"base64 url trimmed", func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s + "\n")) }},
	{"base64 of base64", func(s string) string {
		return base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(s))))
	}},
	{"base64 of base64 of echo", func(s string) string {
		return base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(s+"\n")) + "\n"))
	}},
	{"base32", func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) }},
	{"base32 hex", func(s string) string { return base32.HexEncoding.EncodeToString([]byte(s)) }},
	{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
	{"HEX", func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }},
	{"url query", url.QueryEscape},
	{"url path", url.PathEscape},
	{"url lower", func(s string) string {
		return regexp.MustCompile(`%[0-9A-F]{2}`).ReplaceAllStringFunc(url.PathEscape(s), strings.ToLower)
	}},
	{"json", func(s string) string { return jsonEnc(s, true) }},
	{"json no html", func(s string) string { return jsonEnc(s, false) }},
	{"shell single", func(s string) string { return strings.ReplaceAll(s, "'", `'\''`) }},
	{"shell double", func(s string) string {
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(s)
	}},
	{"ansi inside", func(s string) string { return s[:3] + "\x1b[1;31m" + s[3:] + "\x1b[0m" }},
	{"cr inside", func(s string) string { return s[:4] + "\r" + s[4:] }},
}

// mustNew returns a Masker of secrets.
func mustNew(t testing.TB, secrets ...string) *Masker {
	t.Helper()
	m, err := New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// recorder is the io.Writer behind a Writer in tests: it keeps every Write (the live stream)
// and their concatenation (the stored log).
type recorder struct {
	mu     sync.Mutex
	writes []string
	all    bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(p))
	return r.all.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.String()
}

// through writes chunks to a Writer of m, closes it and returns the output.
func through(t testing.TB, m *Masker, chunks ...string) string {
	t.Helper()
	var rec recorder
	w := NewWriter(m, &rec)
	for _, c := range chunks {
		if n, err := w.Write([]byte(c)); n != len(c) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return rec.String()
}

// bytewise splits s into one-byte chunks.
func bytewise(s string) []string {
	out := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = s[i : i+1]
	}
	return out
}

// leaks returns what of secret and its forms out contains: the forms, the value, and the lines
// of at least 8 bytes of a multi-line value.
func leaks(out, secret string) []string {
	var found []string
	check := func(what, s string) {
		if len(s) >= 8 && strings.Contains(string(visible([]byte(out))), string(visible([]byte(s)))) {
			found = append(found, what)
		}
	}
	for _, e := range encodings {
		check(e.name, e.enc(secret))
	}
	for _, line := range strings.Split(secret, "\n") {
		check("line", strings.TrimSpace(line))
	}
	return found
}

// TestForms writes every secret in every form, whole, byte by byte, split at every position,
// surrounded by text, next to another secret and repeated, and checks that exactly the form is
// masked.
func TestForms(t *testing.T) {
	all := make([]string, len(testSecrets))
	for i, s := range testSecrets {
		all[i] = s.value
	}
	all = append(all, "another-secret-value")
	m := mustNew(t, all...)
	for _, s := range testSecrets {
		for _, e := range encodings {
			form := e.enc(s.value)
			t.Run(s.name+"/"+e.name, func(t *testing.T) {
				text := "before " + form + " after\n"
				want := "before ***" + kept[e.name] + " after\n"
				check := func(how string, got string) {
					t.Helper()
					if got != want {
						t.Errorf("%s: got %q, want %q", how, got, want)
					}
					if l := leaks(got, s.value); len(l) > 0 {
						t.Errorf("%s: output %q leaks %v", how, got, l)
					}
				}
				check("whole", through(t, m, text))
				check("byte by byte", through(t, m, bytewise(text)...))
				for i := 1; i < len(text); i++ {
					check(fmt.Sprintf("split at %d", i), through(t, m, text[:i], text[i:]))
				}
				check("one-shot String", m.String(text))

				text, want = form+"another-secret-value", "***"
				check("adjacent to another secret", through(t, m, text))
				text, want = form+form+"\n"+form, "***"+kept[e.name]+"\n***"+kept[e.name]
				check("repeated", through(t, m, bytewise(text)...))
			})
		}
	}
}

// TestLinesOfMultiLineSecret checks that long lines of a multi-line secret are masked on their
// own and short ones are not (masking "{" everywhere would make logs unreadable).
func TestLinesOfMultiLineSecret(t *testing.T) {
	m := mustNew(t, testSecrets[2].value)
	tests := []struct{ name, in, want string }{
		{"long line", "key: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n", "key: ***\n"},
		{"line with CRLF in the secret", "last line of the key==\r\n", "***\r\n"},
		{"indented line", "    -----END TEST KEY-----\n", "    ***\n"},
		{"short lines stay", "func main() {\n}\nshort\n", "func main() {\n}\nshort\n"},
		{"whole value with CRLF", strings.ReplaceAll(testSecrets[2].value, "\n", "\r\n"), "***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunks := range [][]string{{tt.in}, bytewise(tt.in)} {
				if got := through(t, m, chunks...); got != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// covered checks that out is enc with one span that includes enc[lo:hi] replaced by "***".
func covered(t *testing.T, what, enc, out string, lo, hi int) {
	t.Helper()
	i := strings.Index(out, Redacted)
	if i < 0 || strings.Count(out, Redacted) != 1 {
		t.Errorf("%s: %q masked as %q: want one ***", what, enc, out)
		return
	}
	head, tail := out[:i], out[i+len(Redacted):]
	if !strings.HasPrefix(enc, head) || !strings.HasSuffix(enc, tail) || len(head) > lo || len(enc)-len(tail) < hi {
		t.Errorf("%s: %q masked as %q: chars %d…%d, determined by the secret, are not all masked", what, enc, out, lo, hi)
	}
}

// TestEmbeddedInEncodedBlob encodes each secret inside a longer blob, at every alignment, and
// checks that every character determined by the secret's bytes is masked: base64 (both
// alphabets, padded or not), base32 (both alphabets), and base64 of such base64.
func TestEmbeddedInEncodedBlob(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	type codec struct {
		name string
		enc  func([]byte) string
		bits int
	}
	codecs := []codec{
		{"base64", base64.StdEncoding.EncodeToString, 6},
		{"base64 url", base64.URLEncoding.EncodeToString, 6},
		{"base64 trimmed", base64.RawStdEncoding.EncodeToString, 6},
		{"base64 url trimmed", base64.RawURLEncoding.EncodeToString, 6},
		{"base32", base32.StdEncoding.EncodeToString, 5},
		{"base32 hex", base32.HexEncoding.EncodeToString, 5},
	}
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	for _, s := range testSecrets {
		m := mustNew(t, s.value)
		n := len(s.value)
		for _, c := range codecs {
			for pre := 0; pre <= 5; pre++ {
				for post := 0; post <= 5; post++ {
					blob := append(append(randBytes(pre), s.value...), randBytes(post)...)
					enc := c.enc(blob)
					lo, hi := (8*pre+c.bits-1)/c.bits, (8*(pre+n))/c.bits
					what := fmt.Sprintf("%s/%s/prefix %d/suffix %d", s.name, c.name, pre, post)
					covered(t, what, enc, through(t, m, bytewise(enc)...), lo, hi)
					covered(t, what+"/in text", enc, strings.TrimSuffix(strings.TrimPrefix(through(t, m, "x "+enc+" y"), "x "), " y"), lo, hi)

					if c.name != "base64" {
						continue
					}
					// Base64 of that base64, itself inside a longer text.
					outerPre := strings.Repeat("A", r.IntN(3))
					outer := base64.StdEncoding.EncodeToString([]byte(outerPre + enc + "Zz"))
					olo, ohi := (8*(len(outerPre)+lo)+5)/6, (8*(len(outerPre)+hi))/6
					covered(t, what+"/base64 of it", outer, through(t, m, outer), olo, ohi)
				}
			}
		}
	}
}

// TestNotOverMasking checks that text without secrets passes unchanged, whatever it contains
// and however it is cut.
func TestNotOverMasking(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var secrets []string
	for _, s := range testSecrets {
		secrets = append(secrets, s.value)
	}
	m := mustNew(t, append(secrets, randomSecrets(r, 50)...)...)

	t.Run("build output", func(t *testing.T) {
		in := string(logLike(r, 1<<20))
		if got := through(t, m, in); got != in {
			t.Error("build output without secrets changed")
		}
	})
	t.Run("10 MB random bytes in random chunks", func(t *testing.T) {
		// Random bytes, with more ESC, '[', CR and newlines than chance would give, so that
		// escape sequences start, end and break off everywhere.
		in := make([]byte, 10<<20)
		special := []byte{0x1b, '[', '\r', '\n', '1', ';', 'm'}
		for i := range in {
			if r.IntN(8) == 0 {
				in[i] = special[r.IntN(len(special))]
			} else {
				in[i] = byte(r.IntN(256))
			}
		}
		var chunks []string
		for p := in; len(p) > 0; {
			c := p[:min(len(p), 1+r.IntN(70000))]
			p = p[len(c):]
			chunks = append(chunks, string(c))
		}
		if got := through(t, m, chunks...); got != string(in) {
			t.Error("random stream without secrets changed")
		}
	})
	t.Run("needle prefixes that never complete", func(t *testing.T) {
		// Each secret cut one byte short, so that the Writer holds back and then lets go.
		var b strings.Builder
		for _, s := range secrets {
			if strings.Contains(s, "\n") {
				continue // its lines are masked on their own
			}
			fmt.Fprintf(&b, "%s|%s\n", s[:len(s)-1], base64.StdEncoding.EncodeToString([]byte(s))[:10])
		}
		in := b.String()
		if got := through(t, m, bytewise(in)...); got != in {
			t.Errorf("got %q, want %q", got, in)
		}
	})
}

// TestANSIAndCarriageReturns checks that escape sequences and carriage returns inside a value
// do not hide it, that those around it are kept, and that escape sequences cannot hide a value
// in their parameters.
func TestANSIAndCarriageReturns(t *testing.T) {
	m := mustNew(t, "secret-value", "12345678901")
	tests := []struct{ name, in, want string }{
		{"colour inside", "x sec\x1b[31mret-value y", "x *** y"},
		{"several colours inside", "sec\x1b[31mret\x1b[0m-va\x1b[1;4;38;2;10;20;30mlue\n", "***\n"},
		{"colour around is kept", "\x1b[32msecret-value\x1b[0m", "\x1b[32m***\x1b[0m"},
		{"carriage return inside", "secret\r-value\r\n", "***\r\n"},
		{"CRLF line", "secret-value\r\n", "***\r\n"},
		{"cursor moves inside", "secr\x1b[2K\x1b[1Get-value", "***"},
		{"numeric secret hidden in parameters", "\x1b[12345678901m", "\x1b[***m"},
		{"broken escape is text", "\x1b[12;\x01secret-value", "\x1b[12;\x01***"},
		{"escape too long to skip", "secret" + "\x1b[" + strings.Repeat("1;", 40) + "m-value", "secret\x1b[" + strings.Repeat("1;", 40) + "m-value"},
		{"lone ESC", "\x1bsecret-value\x1b", "\x1b***\x1b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := through(t, m, tt.in); got != tt.want {
				t.Errorf("whole: got %q, want %q", got, tt.want)
			}
			if got := through(t, m, bytewise(tt.in)...); got != tt.want {
				t.Errorf("byte by byte: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLive checks that the Writer holds back only what may begin a form, and never more than
// the longest form.
func TestLive(t *testing.T) {
	m := mustNew(t, "s3cr3t-Value_42", testSecrets[2].value)
	var rec recorder
	w := NewWriter(m, &rec)
	write := func(s string) {
		t.Helper()
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	write("compiling main.go\n")
	if got := rec.String(); got != "compiling main.go\n" {
		t.Fatalf("a line that cannot begin a secret was held back: out %q", got)
	}
	write("progress: 50%")
	if got := rec.String(); got != "compiling main.go\nprogress: 50%" {
		t.Fatalf("a partial line that cannot begin a secret was held back: out %q", got)
	}

	// A form written byte by byte: what is held back is always a prefix of a form.
	form := base64.StdEncoding.EncodeToString([]byte(testSecrets[2].value + "\n"))
	before := len(rec.String())
	for i := range len(form) - 1 {
		write(form[i : i+1])
		held := i + 1 - (len(rec.String()) - before)
		if held >= m.longest {
			t.Fatalf("after %d bytes %d are held back, longest form is %d", i+1, held, m.longest)
		}
	}
	write(form[len(form)-1:])
	if got := rec.String()[before:]; got != Redacted {
		t.Fatalf("form masked as %q", got)
	}

	// A prefix of a form is let go by the first byte that ends the possibility.
	write(" s3cr3t-Val")
	if got := rec.String(); strings.HasSuffix(got, "s3cr3t-Val") {
		t.Fatalf("a prefix of a secret went out before it could be decided: %q", got)
	}
	write("!\n")
	if got := rec.String(); !strings.HasSuffix(got, "*** s3cr3t-Val!\n") {
		t.Fatalf("not let go at once: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err != ErrClosed {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
}

// TestFlush checks that Flush writes out what is held back, and that the rest of a form that
// continues after it is still masked.
func TestFlush(t *testing.T) {
	m := mustNew(t, "s3cr3t-Value_42")
	var rec recorder
	w := NewWriter(m, &rec)
	steps := []struct{ write, want string }{
		{"log s3cr3t-", "log "},
		{"", "log s3cr3t-"}, // Flush
		{"Value_42 done\n", "log s3cr3t-*** done\n"},
		// Its base64 without padding: the beginning of the padded base64 of value+"\n" too,
		// so it is held back until Flush.
		{"czNjcjN0LVZhbHVlXzQy", "log s3cr3t-*** done\n"},
		{"", "log s3cr3t-*** done\n***"}, // Flush masks a whole form it holds
		{"Cg==\n", "log s3cr3t-*** done\n***\n"},
	}
	for i, st := range steps {
		var err error
		if st.write == "" {
			err = w.Flush()
		} else {
			_, err = w.Write([]byte(st.write))
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.String(); got != st.want {
			t.Fatalf("step %d: out %q, want %q", i, got, st.want)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		ok      bool
	}{
		{"none", nil, true},
		{"eight bytes", []string{"12345678"}, true},
		{"duplicates", []string{"12345678", "12345678"}, true},
		{"seven bytes", []string{"good-secret", "1234567"}, false},
		{"short once escapes are skipped", []string{"\x1b[31mabcd\x1b[0m\r\r\r"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.secrets)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if rampart.ErrorCode(err) != rampart.EINVALID {
					t.Errorf("code %q, want EINVALID", rampart.ErrorCode(err))
				}
				for _, s := range tt.secrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q shows a secret", err)
					}
				}
				return
			}
			if got := m.String("nothing here"); got != "nothing here" {
				t.Errorf("String = %q", got)
			}
		})
	}
}

// TestMaskerDoesNotPrintSecrets checks that a Masker printed by mistake shows no secret.
func TestMaskerDoesNotPrintSecrets(t *testing.T) {
	m := mustNew(t, "s3cr3t-Value_42")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if out := fmt.Sprintf(verb, m); strings.Contains(out, "s3cr3t") || strings.Contains(out, "czNjcjN0") {
			t.Errorf("%s prints %q", verb, out)
		}
	}
}

// TestOneShot checks String and Bytes, used for summaries, annotations and error messages.
func TestOneShot(t *testing.T) {
	m := mustNew(t, "s3cr3t-Value_42")
	if got := m.String(`error: login failed for token "s3cr3t-Value_42" (czNjcjN0LVZhbHVlXzQy)`); got != `error: login failed for token "***" (***)` {
		t.Errorf("String = %q", got)
	}
	in := []byte("## Summary\n\n| token | s3cr3t-Value_42 |\n")
	if got := string(m.Bytes(in)); got != "## Summary\n\n| token | *** |\n" {
		t.Errorf("Bytes = %q", got)
	}
	if string(in) != "## Summary\n\n| token | s3cr3t-Value_42 |\n" {
		t.Error("Bytes changed its argument")
	}
}

// TestConcurrent uses one Masker from many goroutines and one Writer from two (Write and an
// idle-flush timer), for the race detector.
func TestConcurrent(t *testing.T) {
	m := mustNew(t, "s3cr3t-Value_42", "another-secret-value")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				in := fmt.Sprintf("%d s3cr3t-Value_42 %d", i, i)
				if got, want := m.String(in), fmt.Sprintf("%d *** %d", i, i); got != want {
					t.Errorf("got %q, want %q", got, want)
					return
				}
			}
		})
	}
	var rec recorder
	w := NewWriter(m, &rec)
	done := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				_ = w.Flush()
			}
		}
	})
	for range 2000 {
		_, _ = w.Write([]byte("line another-secret-value\n"))
	}
	close(done)
	wg.Wait()
	_ = w.Close()
	if strings.Contains(rec.String(), "another-secret-value") {
		t.Error("secret leaked")
	}
}

// failWriter fails every Write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestWriteError(t *testing.T) {
	w := NewWriter(mustNew(t, "s3cr3t-Value_42"), failWriter{})
	if _, err := w.Write([]byte("hello\n")); err == nil {
		t.Fatal("no error")
	}
	if _, err := w.Write([]byte("again\n")); err == nil || err.Error() != "disk full" {
		t.Errorf("second Write: %v, want the first error", err)
	}
}

// TestManySecrets masks a log with a thousand secrets configured and some of them printed,
// raw or in base64.
func TestManySecrets(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	secrets := randomSecrets(r, 1000)
	m := mustNew(t, secrets...)
	log := withSecrets(logLike(r, 2<<20), secrets)
	var chunks []string
	for p := string(log); len(p) > 0; {
		c := p[:min(len(p), 1+r.IntN(5000))]
		p = p[len(c):]
		chunks = append(chunks, c)
	}
	out := through(t, m, chunks...)
	printed := bytes.Count(log, []byte("token="))
	if got := strings.Count(out, "token=***\n"); got != printed {
		t.Errorf("%d of %d printed secrets masked", got, printed)
	}
	if out != string(m.Bytes(log)) {
		t.Error("masking depends on how the stream is cut")
	}
	for _, s := range secrets {
		if strings.Contains(out, s) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(s))) {
			t.Fatalf("secret leaked")
		}
	}
}
