package forge

import (
	"testing"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/forge/git"
)

// FuzzParse feeds arbitrary bodies and event types of each host to Parse: it must never panic,
// and whatever it accepts must be safe to hand to git.
func FuzzParse(f *testing.F) {
	hosts := []string{GitHub, GitLab, Gitea}
	for _, fx := range fixtures {
		for i, h := range hosts {
			if h == fx.host {
				f.Add(uint8(i), fx.event, readFixture(f, fx.file))
			}
		}
	}
	f.Add(uint8(0), "push", []byte(`{"ref":"refs/heads/a","after":null,"head_commit":{"id":7}}`))
	f.Add(uint8(1), "Merge Request Hook", []byte(`{"object_attributes":null}`))
	f.Fuzz(func(t *testing.T, hostIndex uint8, event string, body []byte) {
		host := hosts[int(hostIndex)%len(hosts)]
		ev, err := Parse(host, eventHeader(host, event), body)
		if err != nil {
			if ev != nil {
				t.Fatalf("Parse returned both an event and %v", err)
			}
			if rampart.ErrorCode(err) == rampart.EINTERNAL {
				t.Fatalf("Parse returned an internal error: %v", err)
			}
			return
		}
		switch ev.Kind {
		case "":
		case rampart.EventPush, rampart.EventPullRequest:
			if !git.IsCommit(ev.Commit) || git.CheckRef(ev.Ref) != nil {
				t.Fatalf("accepted event with commit %q ref %q", ev.Commit, ev.Ref)
			}
			if ev.Deleted {
				t.Fatalf("deletion with Kind %q", ev.Kind)
			}
		default:
			t.Fatalf("unknown Kind %q", ev.Kind)
		}
		for _, r := range []string{ev.Branch, ev.Tag, ev.BaseBranch} {
			if r != "" && git.CheckRef(r) != nil {
				t.Fatalf("accepted unsafe ref %q", r)
			}
		}
	})
}
