package iac

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart/scan"
)

// mixedFiles returns n files made from the rule fixtures (all five kinds, failing and
// passing), with distinct paths.
func mixedFiles(tb testing.TB, n int) []scan.File {
	tb.Helper()
	var base []scan.File
	for _, k := range Kinds() {
		ext := fixtureExt[k]
		paths, _ := filepath.Glob(filepath.Join("testdata", string(k), "*", "*."+ext))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				tb.Fatal(err)
			}
			base = append(base, scan.File{Path: filepath.ToSlash(p), Data: data})
		}
	}
	if len(base) == 0 {
		tb.Fatal("no fixtures")
	}
	files := make([]scan.File, n)
	for i := range files {
		f := base[i%len(base)]
		dir, name := filepath.Split(f.Path)
		files[i] = scan.File{Path: fmt.Sprintf("%s%d/%s", dir, i, name), Data: f.Data}
	}
	return files
}

// scanAll scans files on workers goroutines, as the tree scanner does.
func scanAll(tb testing.TB, s *Scanner, files []scan.File, workers int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	next := make(chan scan.File)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range next {
				fs, err := s.ScanFile(context.Background(), f)
				if err != nil {
					tb.Error(err)
				}
				mu.Lock()
				total += len(fs)
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		if s.Wants(f.Path) {
			next <- f
		}
	}
	close(next)
	wg.Wait()
	return total
}

// BenchmarkScan1000 scans 1,000 mixed IaC files per iteration on GOMAXPROCS goroutines.
func BenchmarkScan1000(b *testing.B) {
	s := testScanner(b)
	files := mixedFiles(b, 1000)
	b.ResetTimer()
	for b.Loop() {
		scanAll(b, s, files, runtime.GOMAXPROCS(0))
	}
}

// TestScan1000 reports the time to scan 1,000 mixed files (run with -v).
func TestScan1000(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := testScanner(t)
	files := mixedFiles(t, 1000)
	start := time.Now()
	n := scanAll(t, s, files, runtime.GOMAXPROCS(0))
	t.Logf("1,000 files, %d findings, %v on %d goroutines", n, time.Since(start), runtime.GOMAXPROCS(0))
}

func BenchmarkCompile(b *testing.B) {
	for b.Loop() {
		if _, err := New(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
