package mask

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSubprocessAttack is the attack of the issue: a job prints its secret in every form, one
// byte at a time with a sleep between bytes, alternating between stdout and stderr, and the
// agent reads the one pipe both go to and writes whatever arrives into the Writer, flushing it
// when the stream has been idle for a while. Neither the live stream (the Writer's output, as
// uploaded) nor the stored log (that output masked again by the server) may contain any form.
func TestSubprocessAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	secret := `p@ss w0rd&"q'`
	m := mustNew(t, secret)

	// The script: a label, then the form byte by byte (octal escapes, so that any byte gets
	// through printf), each byte to the other stream, a sleep between bytes.
	var script strings.Builder
	var want strings.Builder
	formBytes := 0
	for _, e := range encodings {
		form := e.enc(secret)
		formBytes += len(form)
		fmt.Fprintf(&script, "printf '%s: '\n", e.name)
		for i := 0; i < len(form); i++ {
			fmt.Fprintf(&script, "printf '\\%03o' >&%d; sleep 0.01\n", form[i], 1+i%2)
		}
		script.WriteString("printf '\\n'\n")
		fmt.Fprintf(&want, "%s: ***%s\n", e.name, kept[e.name])
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sh, "-c", script.String())
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	var live recorder
	w := NewWriter(m, &live)
	// The agent's idle flush: the masker is flushed when nothing arrived for idle. The script
	// pauses 10 ms between bytes; idle is far above that so that a machine under load, which can
	// stall the script for half a second, does not flush in the middle of a form: such a flush
	// lets the held-back prefix go (as documented), and the exact output below would differ.
	const idle = 2 * time.Second
	var mu sync.Mutex
	last := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(idle / 5)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				mu.Lock()
				quiet := time.Since(last) > idle
				mu.Unlock()
				if quiet {
					if err := w.Flush(); err != nil {
						t.Error(err)
					}
				}
			}
		}
	})
	buf := make([]byte, 4096)
	reads := 0
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			reads++
			mu.Lock()
			last = time.Now()
			mu.Unlock()
			if _, err := w.Write(buf[:n]); err != nil {
				t.Fatal(err)
			}
		}
		if err != nil {
			break
		}
	}
	close(stop)
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes of %d forms, read in %d chunks, masked in %d writes, in %v",
		formBytes, len(encodings), reads, len(live.writes), time.Since(start).Round(time.Millisecond))

	stored := m.String(live.String())
	for name, out := range map[string]string{"live stream": live.String(), "stored log": stored} {
		if l := leaks(out, secret); len(l) > 0 {
			t.Errorf("%s leaks %v:\n%s", name, l, out)
		}
		if out != want.String() {
			t.Errorf("%s:\n%s\nwant:\n%s", name, out, want.String())
		}
	}
}
