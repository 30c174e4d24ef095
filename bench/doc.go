// Package bench measures Rampart end to end: a real server (in-process, on 127.0.0.1) with real
// agents running real jobs. Run with `go test -run '^$' -bench . ./bench/`; the figures go into
// the closing notes of the issues that set targets for them.
package bench
