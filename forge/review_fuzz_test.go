package forge

import (
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/forge/git"
)

// FuzzParseReview feeds arbitrary bodies and event types of each host to ParseReview. Webhook
// bodies are untrusted until Verify passes and their event header never is: ParseReview must
// not panic, and whatever evidence it returns must be valid, safe to hand to git, and an
// approval only when the event type and the body both say so.
func FuzzParseReview(f *testing.F) {
	hosts := []string{GitHub, GitLab, Gitea}
	for _, fx := range append(append([]fixture{}, reviewFixtures...), fixtures...) {
		for i, h := range hosts {
			if h == fx.host {
				f.Add(uint8(i), fx.event, readFixture(f, fx.file))
			}
		}
	}
	f.Add(uint8(0), "pull_request_review", []byte(`{"action":"submitted","review":{"state":"approved","commit_id":null},"pull_request":null}`))
	f.Add(uint8(1), "Merge Request Hook", []byte(`{"object_attributes":{"action":"approved","iid":1,"last_commit":null},"user":null}`))
	f.Add(uint8(2), "pull_request_approved", []byte(`{"review":{"type":"pull_request_review_rejected"},"pull_request":{}}`))
	f.Fuzz(func(t *testing.T, hostIndex uint8, event string, body []byte) {
		host := hosts[int(hostIndex)%len(hosts)]
		rv, err := ParseReview(host, eventHeader(host, event), body)
		if err != nil {
			if rv != nil {
				t.Fatalf("ParseReview returned both %+v and %v", rv, err)
			}
			if rampart.ErrorCode(err) == rampart.EINTERNAL || rampart.ErrorMessage(err) == "" {
				t.Fatalf("ParseReview returned an internal or empty error: %v", err)
			}
			return
		}
		if rv == nil {
			return
		}
		if err := rv.Validate(); err != nil {
			t.Fatalf("returned evidence does not validate: %v", err)
		}
		if rv.Host != host {
			t.Fatalf("Host %q from %s", rv.Host, host)
		}
		if !git.IsCommit(rv.CommitSHA) || rv.CommitSHA != strings.ToLower(rv.CommitSHA) {
			t.Fatalf("commit %q", rv.CommitSHA)
		}
		if git.CheckRef(rv.BaseBranch) != nil || git.CheckRef(rv.HeadBranch) != nil {
			t.Fatalf("unsafe branches %q, %q", rv.BaseBranch, rv.HeadBranch)
		}
		if rv.IsReview() != (rv.Reviewer != "") {
			t.Fatalf("Kind %q with Reviewer %q", rv.Kind, rv.Reviewer)
		}
		if rv.Kind == rampart.ReviewApproved {
			ok := false
			switch host {
			case GitHub:
				ok = event == "pull_request_review"
			case GitLab:
				ok = event == gitlabMergeRequest
			case Gitea:
				ok = strings.HasSuffix(event, "_approved")
			}
			if !ok {
				t.Fatalf("approval from %s event %q", host, event)
			}
		}
		if rv.Kind != rampart.PullRequestMerged && rv.MergeCommitSHA != "" {
			t.Fatalf("merge commit on %q", rv.Kind)
		}
	})
}
