package scheduler

import (
	"context"
	"strings"

	"github.com/rampart-ci/rampart"
)

// ManualTrigger resolves ref — a branch, a tag, a full ref, a commit or "" for HEAD — in the
// project's repository and returns the trigger of a run started by hand there, by the user
// named by. A short name is a branch when the repository has that branch and a tag otherwise,
// and the trigger says which: environments allow branches and tags by separate patterns, so a
// tag must never pass for a branch of the same name.
func (s *Scheduler) ManualTrigger(ctx context.Context, p *rampart.Project, ref, by string) (Trigger, error) {
	if ref == "" {
		ref = "HEAD"
	}
	tr := Trigger{Event: rampart.EventManual, Ref: ref, TriggeredBy: by}
	resolve := func(full string) (string, error) { return s.cfg.Repo.ResolveRef(ctx, p.RepoURL, full) }
	var err error
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		tr.Branch = strings.TrimPrefix(ref, "refs/heads/")
		tr.Commit, err = resolve(ref)
	case strings.HasPrefix(ref, "refs/tags/"):
		tr.Tag = strings.TrimPrefix(ref, "refs/tags/")
		tr.Commit, err = resolve(ref)
	case ref == "HEAD" || rampart.IsCommitSHA(strings.ToLower(ref)):
		tr.Commit, err = resolve(ref)
	default:
		if tr.Commit, err = resolve("refs/heads/" + ref); err == nil {
			tr.Branch, tr.Ref = ref, "refs/heads/"+ref
		} else if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			if tr.Commit, err = resolve("refs/tags/" + ref); err == nil {
				tr.Tag, tr.Ref = ref, "refs/tags/"+ref
			} else if rampart.ErrorCode(err) == rampart.ENOTFOUND {
				tr.Commit, err = resolve(ref) // an abbreviated commit, or the remote's own answer
			}
		}
	}
	if err != nil {
		return Trigger{}, err
	}
	return tr, nil
}
