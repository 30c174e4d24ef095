package forge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/forge/git"
)

// Parse turns a webhook request from host ("github", "gitlab" or "gitea") into an Event. The
// event type comes from X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event.
//
// Pushes to branches and tags are EventPush; a push that deletes a ref has Deleted set and Kind
// "". Pull requests are EventPullRequest only for actions that bring new code: on GitHub and
// Gitea "opened", "synchronize"/"synchronized" and "reopened"; on GitLab "open", "reopen", and
// "update" when the payload has "oldrev", which GitLab sends only when the update pushed new
// commits (an edited title does not start a run). Other actions and other events (ping, issues,
// create, …) give Kind "", with Action set for pull requests.
//
// Parse returns EINVALID for an unknown host, a missing event header, malformed JSON, or a
// payload whose commit is not a full SHA or whose refs are not safe git refs (see
// git.CheckRef); ETOOLARGE for a body over MaxBodyBytes. It does not check where the request
// came from: call Verify first.
func Parse(host string, header http.Header, body []byte) (*Event, error) {
	if len(body) > MaxBodyBytes {
		return nil, tooLarge(len(body))
	}
	var ev *Event
	var err error
	switch host {
	case GitHub:
		ev, err = parseGitHub(header.Get("X-GitHub-Event"), body)
	case GitLab:
		ev, err = parseGitLab(header.Get("X-Gitlab-Event"), body)
	case Gitea:
		ev, err = parseGitea(header.Get("X-Gitea-Event"), body)
	default:
		return nil, unknownHost(host)
	}
	if err != nil {
		return nil, err
	}
	if err := ev.check(); err != nil {
		return nil, err
	}
	return ev, nil
}

// decode unmarshals a payload, turning syntax and type errors into EINVALID.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return rampart.Errorf(rampart.EINVALID, "malformed webhook payload: %v", err).
			WithDetail("set the webhook's content type to application/json in the git host")
	}
	return nil
}

// ignore returns the Event for a type Rampart does not act on, after checking that the body is
// JSON at all.
func ignore(typ string, body []byte) (*Event, error) {
	if !json.Valid(body) {
		return nil, rampart.Errorf(rampart.EINVALID, "malformed webhook payload: not JSON").
			WithDetail("set the webhook's content type to application/json in the git host")
	}
	return &Event{Type: typ}, nil
}

func missingType(name string) error {
	return rampart.Errorf(rampart.EINVALID, "webhook request has no %s header", name).
		WithDetail("point only the git host's webhook at this URL")
}

// repoRef is a repository as GitHub and Gitea describe it in pull requests.
type repoRef struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

// pushPayload holds the fields of GitHub's and Gitea's push events that Rampart reads.
type pushPayload struct {
	Ref        string `json:"ref"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	HeadCommit *struct {
		ID string `json:"id"`
	} `json:"head_commit"`
	Repository struct {
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

func (p *pushPayload) event(typ string) *Event {
	var headCommit string
	if p.HeadCommit != nil {
		headCommit = p.HeadCommit.ID
	}
	return pushEvent(typ, p.Ref, p.After, headCommit, p.Deleted, p.Repository.CloneURL, p.Sender.Login)
}

// prPayload holds the fields of GitHub's and Gitea's pull_request events that Rampart reads.
type prPayload struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Number int `json:"number"`
		Head   struct {
			Ref    string   `json:"ref"`
			SHA    string   `json:"sha"`
			RepoID int64    `json:"repo_id"` // Gitea only
			Repo   *repoRef `json:"repo"`
		} `json:"head"`
		Base struct {
			Ref    string   `json:"ref"`
			RepoID int64    `json:"repo_id"`
			Repo   *repoRef `json:"repo"`
		} `json:"base"`
	} `json:"pull_request"`
	Repository struct {
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

func (p *prPayload) event(typ string) *Event {
	pr := &p.PullRequest
	n := p.Number
	if n == 0 {
		n = pr.Number
	}
	head, base := pr.Head.Repo, pr.Base.Repo
	// Anything short of proof that head and base are one repository counts as a fork.
	fork := head == nil || base == nil || head.FullName == "" || head.FullName != base.FullName ||
		(head.ID != 0 && base.ID != 0 && head.ID != base.ID) ||
		(pr.Head.RepoID != 0 && pr.Base.RepoID != 0 && pr.Head.RepoID != pr.Base.RepoID)
	ev := &Event{
		Type:        typ,
		Ref:         fmt.Sprintf("refs/pull/%d/head", n),
		Branch:      pr.Head.Ref,
		Commit:      pr.Head.SHA,
		BaseBranch:  pr.Base.Ref,
		PullRequest: n,
		FromFork:    fork,
		Repo:        p.Repository.CloneURL,
		Sender:      p.Sender.Login,
		Action:      p.Action,
	}
	switch p.Action {
	case "opened", "synchronize", "synchronized", "reopened":
		ev.Kind = rampart.EventPullRequest
	}
	return ev
}

func parseGitHub(typ string, body []byte) (*Event, error) {
	switch typ {
	case "":
		return nil, missingType("X-GitHub-Event")
	case "push":
		var p pushPayload
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		return p.event(typ), nil
	case "pull_request":
		var p prPayload
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		return p.event(typ), nil
	default: // ping, issues, create, delete, …
		return ignore(typ, body)
	}
}

func parseGitea(typ string, body []byte) (*Event, error) {
	switch typ {
	case "":
		return nil, missingType("X-Gitea-Event")
	case "push":
		var p pushPayload
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		return p.event(typ), nil
	case "pull_request":
		var p prPayload
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		return p.event(typ), nil
	default: // create and delete come with a push or instead of nothing Rampart builds
		return ignore(typ, body)
	}
}

// GitLab's event names, from X-Gitlab-Event.
const (
	gitlabPush         = "Push Hook"
	gitlabTagPush      = "Tag Push Hook"
	gitlabMergeRequest = "Merge Request Hook"
)

func parseGitLab(typ string, body []byte) (*Event, error) {
	switch typ {
	case "":
		return nil, missingType("X-Gitlab-Event")
	case gitlabPush, gitlabTagPush:
		var p struct {
			Ref          string  `json:"ref"`
			After        string  `json:"after"`
			CheckoutSHA  *string `json:"checkout_sha"`
			UserUsername string  `json:"user_username"`
			Project      struct {
				GitHTTPURL string `json:"git_http_url"`
			} `json:"project"`
		}
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		// checkout_sha is the commit even for annotated tags, where after is the tag object.
		var commit string
		if p.CheckoutSHA != nil {
			commit = *p.CheckoutSHA
		}
		return pushEvent(typ, p.Ref, p.After, commit, false, p.Project.GitHTTPURL, p.UserUsername), nil
	case gitlabMergeRequest:
		var p struct {
			User struct {
				Username string `json:"username"`
			} `json:"user"`
			Project struct {
				GitHTTPURL string `json:"git_http_url"`
			} `json:"project"`
			Attrs struct {
				IID             int     `json:"iid"`
				SourceBranch    string  `json:"source_branch"`
				TargetBranch    string  `json:"target_branch"`
				SourceProjectID int64   `json:"source_project_id"`
				TargetProjectID int64   `json:"target_project_id"`
				Action          string  `json:"action"`
				OldRev          *string `json:"oldrev"`
				LastCommit      struct {
					ID string `json:"id"`
				} `json:"last_commit"`
			} `json:"object_attributes"`
		}
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		a := &p.Attrs
		ev := &Event{
			Type:        typ,
			Ref:         fmt.Sprintf("refs/merge-requests/%d/head", a.IID),
			Branch:      a.SourceBranch,
			Commit:      a.LastCommit.ID,
			BaseBranch:  a.TargetBranch,
			PullRequest: a.IID,
			FromFork:    a.SourceProjectID == 0 || a.SourceProjectID != a.TargetProjectID,
			Repo:        p.Project.GitHTTPURL,
			Sender:      p.User.Username,
			Action:      a.Action,
		}
		switch {
		case a.Action == "open", a.Action == "reopen",
			a.Action == "update" && a.OldRev != nil && *a.OldRev != "":
			ev.Kind = rampart.EventPullRequest
		}
		return ev, nil
	default: // Note Hook, Issue Hook, Pipeline Hook, …
		return ignore(typ, body)
	}
}

// pushEvent makes the Event of a push of ref to after. tagCommit, when set, is the commit a
// tag points to (after is then the tag object for annotated tags). A push to a ref that is
// neither a branch nor a tag (notes, say) is ignored.
func pushEvent(typ, ref, after, tagCommit string, deleted bool, repo, sender string) *Event {
	ev := &Event{Kind: rampart.EventPush, Type: typ, Ref: ref, Repo: repo, Sender: sender}
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		ev.Branch = b
	} else if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		ev.Tag = t
	} else {
		ev.Kind = ""
	}
	if deleted || strings.Trim(after, "0") == "" && after != "" {
		ev.Deleted, ev.Kind = true, ""
		return ev
	}
	ev.Commit = after
	if ev.Tag != "" && tagCommit != "" {
		ev.Commit = tagCommit
	}
	return ev
}

// check validates what the payload said and puts the commit in lower case, so that nothing
// malformed reaches git, the database or a log line.
func (ev *Event) check() error {
	bad := func(format string, args ...any) error {
		return rampart.Errorf(rampart.EINVALID, "webhook payload: "+format, args...)
	}
	if ev.Kind != "" || ev.Commit != "" {
		if !git.IsCommit(ev.Commit) {
			return bad("commit %q is not a full commit SHA", ev.Commit)
		}
		ev.Commit = strings.ToLower(ev.Commit)
	}
	if ev.Kind != "" && ev.Ref == "" {
		return bad("no ref")
	}
	for _, f := range []struct{ name, value string }{
		{"ref", ev.Ref}, {"branch", ev.Branch}, {"tag", ev.Tag}, {"base branch", ev.BaseBranch},
	} {
		if f.value == "" {
			continue
		}
		if err := git.CheckRef(f.value); err != nil {
			return bad("%s %q is not a valid git ref", f.name, f.value)
		}
	}
	if ev.Kind == rampart.EventPullRequest && (ev.PullRequest <= 0 || ev.BaseBranch == "" || ev.Branch == "") {
		return bad("pull request without number, head or base branch")
	}
	if ev.PullRequest < 0 {
		return bad("negative pull request number %d", ev.PullRequest)
	}
	for _, f := range []struct{ name, value string }{
		{"type", ev.Type}, {"repository URL", ev.Repo}, {"sender", ev.Sender}, {"action", ev.Action},
	} {
		if len(f.value) > 1024 || strings.ContainsFunc(f.value, isControl) {
			return bad("%s %.40q is too long or contains control characters", f.name, f.value)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
