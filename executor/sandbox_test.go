package executor

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSandbox(t *testing.T) {
	t.Setenv("RAMPART_AGENT_CANARY", "agent-secret-canary")
	port := listen(t)
	hidden := t.TempDir()
	if err := os.WriteFile(filepath.Join(hidden, "credential"), []byte("agent-credential"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Root: t.TempDir(), Sandbox: SandboxBwrap, Logger: testLogger(t), KillGrace: time.Second,
		ReadOnly: []string{hidden}, Hide: []string{filepath.Join(hidden, "credential")}})
	if err != nil {
		t.Skipf("bubblewrap unavailable, sandbox tests skipped (apt-get install bubblewrap): %v", err)
	}
	agentPID := strconv.Itoa(os.Getpid())
	tests := []struct {
		name    string
		network bool
		run     string
		wantOut string // a line the step must print
		notOut  string // text that must not appear in the output
	}{
		{
			name:    "usr read-only",
			run:     `if touch /usr/rampart-probe 2>/dev/null || touch /etc/rampart-probe 2>/dev/null; then echo WRITABLE; else echo READONLY; fi`,
			wantOut: "READONLY",
		},
		{
			name:    "remount refused",
			run:     `if mount -o remount,rw,bind /usr 2>/dev/null; then echo REMOUNTED; else echo REFUSED; fi`,
			wantOut: "REFUSED",
		},
		{
			name:    "no network",
			run:     `if (exec 3<>/dev/tcp/127.0.0.1/` + port + `) 2>/dev/null; then echo CONNECTED; else echo BLOCKED; fi`,
			wantOut: "BLOCKED",
		},
		{
			name:    "network when asked",
			network: true,
			run:     `if (exec 3<>/dev/tcp/127.0.0.1/` + port + `) 2>/dev/null; then echo CONNECTED; else echo BLOCKED; fi`,
			wantOut: "CONNECTED",
		},
		{
			name:    "private tmp",
			run:     `echo x > /tmp/rampart-private-probe && ls -A /tmp && [ "$(stat -f -c %T /tmp)" = tmpfs ] && echo TMPFS`,
			wantOut: "TMPFS",
		},
		{
			name:    "agent environment via /proc",
			run:     `cat /proc/1/environ /proc/` + agentPID + `/environ /proc/*/environ 2>/dev/null | tr '\0' '\n' || true; echo DONE`,
			wantOut: "DONE",
			notOut:  "agent-secret-canary",
		},
		{
			name:    "agent processes invisible",
			run:     `ls /proc | grep -qx ` + agentPID + ` && [ "$(cat /proc/` + agentPID + `/comm)" != bash ] && echo VISIBLE || echo INVISIBLE`,
			wantOut: "INVISIBLE",
		},
		{
			name:    "hidden path",
			run:     `ls ` + hidden + ` >/dev/null && cat ` + filepath.Join(hidden, "credential") + ` 2>&1 || true; echo DONE`,
			wantOut: "DONE",
			notOut:  "agent-credential",
		},
		{
			name:    "agent state not shown",
			run:     `for d in /root /home /var /run /opt; do [ -e $d ] && echo "SHOWN $d"; done; echo DONE`,
			wantOut: "DONE",
			notOut:  "SHOWN",
		},
		{
			name:    "no capabilities",
			run:     `grep CapEff /proc/self/status`,
			wantOut: "CapEff:\t0000000000000000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out := run(t, e, context.Background(), Job{Network: tt.network, Steps: []Step{{Name: "probe", Run: tt.run}}})
			if res.Status != StatusSucceeded {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			if !strings.Contains(out, "sandbox: bubblewrap") {
				t.Errorf("output does not name the sandbox")
			}
			if !strings.Contains(out, "\n"+tt.wantOut+"\n") {
				t.Errorf("output lacks line %q", tt.wantOut)
			}
			if tt.notOut != "" && strings.Contains(out, tt.notOut) {
				t.Errorf("output shows %q", tt.notOut)
			}
		})
	}
	if _, err := os.Stat("/tmp/rampart-private-probe"); err == nil {
		t.Errorf("a write to /tmp in the sandbox reached the host")
	}
	for _, p := range []string{"/usr/rampart-probe", "/etc/rampart-probe"} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s written from the sandbox", p)
		}
	}
}
