package forge

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

// fixture is one hand-written payload under testdata/ and the event header the host sends with it.
type fixture struct {
	host, event, file string
}

var fixtures = []fixture{
	{GitHub, "push", "github-push-branch.json"},
	{GitHub, "push", "github-push-tag.json"},
	{GitHub, "push", "github-push-delete.json"},
	{GitHub, "pull_request", "github-pr-opened.json"},
	{GitHub, "pull_request", "github-pr-fork-synchronize.json"},
	{GitHub, "ping", "github-ping.json"},
	{GitLab, "Push Hook", "gitlab-push.json"},
	{GitLab, "Tag Push Hook", "gitlab-tag-push.json"},
	{GitLab, "Merge Request Hook", "gitlab-mr-open-fork.json"},
	{Gitea, "push", "gitea-push.json"},
	{Gitea, "pull_request", "gitea-pr.json"},
}

// eventHeader returns the header naming the event type as host sends it.
func eventHeader(host, event string) http.Header {
	h := http.Header{}
	switch host {
	case GitHub:
		h.Set("X-GitHub-Event", event)
	case GitLab:
		h.Set("X-Gitlab-Event", event)
	case Gitea:
		h.Set("X-Gitea-Event", event)
	}
	return h
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	want := map[string]Event{
		"github-push-branch.json": {
			Kind: rampart.EventPush, Type: "push", Ref: "refs/heads/main", Branch: "main",
			Commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
			Repo:   "https://github.com/acme/web.git", Sender: "octocat",
		},
		"github-push-tag.json": { // annotated tag: after is the tag object, head_commit the commit
			Kind: rampart.EventPush, Type: "push", Ref: "refs/tags/v1.4.0", Tag: "v1.4.0",
			Commit: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
			Repo:   "https://github.com/acme/web.git", Sender: "release-bot",
		},
		"github-push-delete.json": {
			Type: "push", Ref: "refs/heads/feature/old-login", Branch: "feature/old-login", Deleted: true,
			Repo: "https://github.com/acme/web.git", Sender: "octocat",
		},
		"github-pr-opened.json": {
			Kind: rampart.EventPullRequest, Type: "pull_request", Ref: "refs/pull/42/head",
			Branch: "key-rotation", BaseBranch: "main", PullRequest: 42,
			Commit: "b7e1c2d3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9",
			Repo:   "https://github.com/acme/web.git", Sender: "hubot", Action: "opened",
		},
		"github-pr-fork-synchronize.json": {
			Kind: rampart.EventPullRequest, Type: "pull_request", Ref: "refs/pull/57/head",
			Branch: "main", BaseBranch: "main", PullRequest: 57, FromFork: true,
			Commit: "e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5",
			Repo:   "https://github.com/acme/web.git", Sender: "stranger", Action: "synchronize",
		},
		"github-ping.json": {Type: "ping"},
		"gitlab-push.json": {
			Kind: rampart.EventPush, Type: "Push Hook", Ref: "refs/heads/develop", Branch: "develop",
			Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
			Repo:   "https://gitlab.example.com/acme/billing.git", Sender: "jdoe",
		},
		"gitlab-tag-push.json": { // checkout_sha, not the tag object in after
			Kind: rampart.EventPush, Type: "Tag Push Hook", Ref: "refs/tags/v2.0.1", Tag: "v2.0.1",
			Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
			Repo:   "https://gitlab.example.com/acme/billing.git", Sender: "jdoe",
		},
		"gitlab-mr-open-fork.json": {
			Kind: rampart.EventPullRequest, Type: "Merge Request Hook", Ref: "refs/merge-requests/7/head",
			Branch: "fix-rounding", BaseBranch: "main", PullRequest: 7, FromFork: true,
			Commit: "c0ffee1234567890abcdef1234567890abcdef12",
			Repo:   "https://gitlab.example.com/acme/billing.git", Sender: "sam", Action: "open",
		},
		"gitea-push.json": {
			Kind: rampart.EventPush, Type: "push", Ref: "refs/heads/main", Branch: "main",
			Commit: "5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b",
			Repo:   "https://gitea.example.org/infra/terraform.git", Sender: "ops",
		},
		"gitea-pr.json": {
			Kind: rampart.EventPullRequest, Type: "pull_request", Ref: "refs/pull/3/head",
			Branch: "state-bucket", BaseBranch: "main", PullRequest: 3,
			Commit: "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d",
			Repo:   "https://gitea.example.org/infra/terraform.git", Sender: "ops", Action: "synchronized",
		},
	}
	for _, f := range fixtures {
		t.Run(f.file, func(t *testing.T) {
			got, err := Parse(f.host, eventHeader(f.host, f.event), readFixture(t, f.file))
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[f.file]
			if !ok {
				t.Fatalf("no expected event for %s", f.file)
			}
			if *got != w {
				t.Errorf("Parse =\n%+v\nwant\n%+v", *got, w)
			}
		})
	}
}

// edit returns a fixture with old replaced by new, once.
func edit(t *testing.T, file, old, new string) []byte {
	t.Helper()
	b := readFixture(t, file)
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func TestParseVariants(t *testing.T) {
	for _, tc := range []struct {
		name, host, event string
		body              []byte
		kind, action      string
		fork, deleted     bool
	}{
		{name: "github closed PR is ignored", host: GitHub, event: "pull_request",
			body: edit(t, "github-pr-opened.json", `"action": "opened"`, `"action": "closed"`), action: "closed"},
		{name: "github reopened", host: GitHub, event: "pull_request",
			body: edit(t, "github-pr-opened.json", `"action": "opened"`, `"action": "reopened"`),
			kind: rampart.EventPullRequest, action: "reopened"},
		{name: "github labeled is ignored", host: GitHub, event: "pull_request",
			body: edit(t, "github-pr-opened.json", `"action": "opened"`, `"action": "labeled"`), action: "labeled"},
		{name: "github head repo deleted counts as fork", host: GitHub, event: "pull_request",
			body: edit(t, "github-pr-fork-synchronize.json", `"repo": {
        "id": 790011223,`, `"repo": null, "x": {`),
			kind: rampart.EventPullRequest, action: "synchronize", fork: true},
		{name: "github issues are ignored", host: GitHub, event: "issues", body: []byte(`{"action":"opened"}`)},
		{name: "github tag deletion", host: GitHub, event: "push",
			body:    []byte(`{"ref":"refs/tags/v1","after":"0000000000000000000000000000000000000000","deleted":true}`),
			deleted: true},
		{name: "github push to notes is ignored", host: GitHub, event: "push",
			body: edit(t, "github-push-branch.json", `"refs/heads/main"`, `"refs/notes/commits"`)},
		{name: "gitlab update without new commits is ignored", host: GitLab, event: "Merge Request Hook",
			body: edit(t, "gitlab-mr-open-fork.json", `"action": "open"`, `"action": "update"`), action: "update", fork: true},
		{name: "gitlab update with new commits", host: GitLab, event: "Merge Request Hook",
			body: edit(t, "gitlab-mr-open-fork.json", `"action": "open"`,
				`"action": "update", "oldrev": "95790bf891e76fee5e1747ab589903a6a1f80f22"`),
			kind: rampart.EventPullRequest, action: "update", fork: true},
		{name: "gitlab same-project MR", host: GitLab, event: "Merge Request Hook",
			body: edit(t, "gitlab-mr-open-fork.json", `"source_project_id": 88`, `"source_project_id": 15`),
			kind: rampart.EventPullRequest, action: "open"},
		{name: "gitlab merge is ignored", host: GitLab, event: "Merge Request Hook",
			body: edit(t, "gitlab-mr-open-fork.json", `"action": "open"`, `"action": "merge"`), action: "merge", fork: true},
		{name: "gitlab branch deletion", host: GitLab, event: "Push Hook",
			body: edit(t, "gitlab-push.json", `"after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"`,
				`"after": "0000000000000000000000000000000000000000"`), deleted: true},
		{name: "gitlab pipeline hook is ignored", host: GitLab, event: "Pipeline Hook", body: []byte(`{}`)},
		{name: "gitea PR from fork", host: Gitea, event: "pull_request",
			body: edit(t, "gitea-pr.json", `"repo_id": 12,
      "repo": {"id": 12, "name": "terraform", "full_name": "infra/terraform"`, `"repo_id": 44,
      "repo": {"id": 44, "name": "terraform", "full_name": "someone/terraform"`),
			kind: rampart.EventPullRequest, action: "synchronized", fork: true},
		{name: "gitea opened", host: Gitea, event: "pull_request",
			body: edit(t, "gitea-pr.json", `"action": "synchronized"`, `"action": "opened"`),
			kind: rampart.EventPullRequest, action: "opened"},
		{name: "gitea create is ignored", host: Gitea, event: "create", body: []byte(`{"ref":"main","ref_type":"branch"}`)},
		{name: "uppercase commit is accepted", host: Gitea, event: "push",
			body: edit(t, "gitea-push.json", `"after": "5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b"`,
				`"after": "5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D9E8F7A6B"`), kind: rampart.EventPush},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse(tc.host, eventHeader(tc.host, tc.event), tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != tc.kind || ev.Action != tc.action || ev.FromFork != tc.fork || ev.Deleted != tc.deleted {
				t.Errorf("got Kind %q Action %q FromFork %v Deleted %v; want %q %q %v %v",
					ev.Kind, ev.Action, ev.FromFork, ev.Deleted, tc.kind, tc.action, tc.fork, tc.deleted)
			}
			if ev.Deleted && ev.Commit != "" {
				t.Errorf("deleted ref has commit %q", ev.Commit)
			}
			if ev.Commit != strings.ToLower(ev.Commit) {
				t.Errorf("commit %q not in lower case", ev.Commit)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	big := make([]byte, MaxBodyBytes+1)
	for _, tc := range []struct {
		name, host, event string
		body              []byte
		code              string
	}{
		{name: "unknown host", host: "bitbucket", event: "push", body: []byte(`{}`), code: rampart.EINVALID},
		{name: "too large", host: GitHub, event: "push", body: big, code: rampart.ETOOLARGE},
		{name: "no event header", host: GitHub, body: readFixture(t, "github-push-branch.json"), code: rampart.EINVALID},
		{name: "no gitlab event header", host: GitLab, body: readFixture(t, "gitlab-push.json"), code: rampart.EINVALID},
		{name: "malformed JSON", host: GitHub, event: "push", body: []byte(`{"ref": "refs/heads/main",`), code: rampart.EINVALID},
		{name: "malformed JSON of an ignored event", host: GitHub, event: "ping", body: []byte(`zen`), code: rampart.EINVALID},
		{name: "form-encoded body", host: Gitea, event: "push", body: []byte(`payload=%7B%7D`), code: rampart.EINVALID},
		{name: "wrong type", host: GitLab, event: "Merge Request Hook", body: []byte(`{"object_attributes":{"iid":"7"}}`), code: rampart.EINVALID},
		{name: "short commit", host: GitHub, event: "push",
			body: edit(t, "github-push-branch.json", `"after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"`, `"after": "0d1a26e"`), code: rampart.EINVALID},
		{name: "no commit", host: Gitea, event: "push", body: []byte(`{"ref":"refs/heads/main"}`), code: rampart.EINVALID},
		{name: "dotdot in ref", host: GitHub, event: "push",
			body: edit(t, "github-push-branch.json", `"refs/heads/main"`, `"refs/heads/../../etc"`), code: rampart.EINVALID},
		{name: "control character in ref", host: GitLab, event: "Push Hook",
			body: edit(t, "gitlab-push.json", `"refs/heads/develop"`, `"refs/heads/dev\u001belop"`), code: rampart.EINVALID},
		{name: "option as branch", host: GitHub, event: "pull_request",
			body: edit(t, "github-pr-opened.json", `"ref": "key-rotation"`, `"ref": "--upload-pack=touch /tmp/x"`), code: rampart.EINVALID},
		{name: "PR without number", host: Gitea, event: "pull_request",
			body: bytes.ReplaceAll(readFixture(t, "gitea-pr.json"), []byte(`"number": 3,`), []byte(`"number": 0,`)), code: rampart.EINVALID},
		{name: "control character in sender", host: GitHub, event: "push",
			body: edit(t, "github-push-branch.json", `"login": "octocat"`, `"login": "octo\ncat"`), code: rampart.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse(tc.host, eventHeader(tc.host, tc.event), tc.body)
			if rampart.ErrorCode(err) != tc.code {
				t.Fatalf("Parse = %+v, %v; want code %s", ev, err, tc.code)
			}
			if rampart.ErrorMessage(err) == "" {
				t.Errorf("error without message")
			}
		})
	}
}

func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	const secret = "s3cr3t-webhook-key"
	body := readFixture(t, "github-push-branch.json")
	good := hmacHex(secret, body)
	tampered := bytes.Replace(body, []byte("refs/heads/main"), []byte("refs/heads/prod"), 1)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name, host string
		header     http.Header
		body       []byte
		secret     string
		code       string // "" for success
	}{
		{name: "github ok", host: GitHub, header: hdr("X-Hub-Signature-256", "sha256="+good)},
		{name: "github uppercase hex", host: GitHub, header: hdr("X-Hub-Signature-256", "sha256="+strings.ToUpper(good))},
		{name: "github wrong secret", host: GitHub, header: hdr("X-Hub-Signature-256", "sha256="+hmacHex("other", body)), code: rampart.EUNAUTHORIZED},
		{name: "github missing header", host: GitHub, header: hdr("X-Hub-Signature", "sha1=0123"), code: rampart.EUNAUTHORIZED},
		{name: "github tampered body", host: GitHub, header: hdr("X-Hub-Signature-256", "sha256="+good), body: tampered, code: rampart.EUNAUTHORIZED},
		{name: "github empty secret", host: GitHub, header: hdr("X-Hub-Signature-256", "sha256="+hmacHex("", body)), secret: "-", code: rampart.EUNAUTHORIZED},
		{name: "github wrong prefix", host: GitHub, header: hdr("X-Hub-Signature-256", "sha1="+good), code: rampart.EUNAUTHORIZED},
		{name: "github no prefix", host: GitHub, header: hdr("X-Hub-Signature-256", good), code: rampart.EUNAUTHORIZED},
		{name: "github truncated", host: GitHub, header: hdr("X-Hub-Signature-256", "sha256="+good[:62]), code: rampart.EUNAUTHORIZED},
		{name: "github not hex", host: GitHub, header: hdr("X-Hub-Signature-256", "sha256="+strings.Repeat("zz", 32)), code: rampart.EUNAUTHORIZED},
		{name: "gitea ok", host: Gitea, header: hdr("X-Gitea-Signature", good)},
		{name: "gitea uppercase hex", host: Gitea, header: hdr("X-Gitea-Signature", strings.ToUpper(good))},
		{name: "gitea hub header", host: Gitea, header: hdr("X-Hub-Signature-256", "sha256="+good)},
		{name: "gitea wrong secret", host: Gitea, header: hdr("X-Gitea-Signature", hmacHex("other", body)), code: rampart.EUNAUTHORIZED},
		{name: "gitea tampered body", host: Gitea, header: hdr("X-Gitea-Signature", good), body: tampered, code: rampart.EUNAUTHORIZED},
		{name: "gitea missing header", host: Gitea, header: hdr(), code: rampart.EUNAUTHORIZED},
		{name: "gitea wrong prefix", host: Gitea, header: hdr("X-Gitea-Signature", "sha256="+good), code: rampart.EUNAUTHORIZED},
		{name: "gitea empty secret", host: Gitea, header: hdr("X-Gitea-Signature", hmacHex("", body)), secret: "-", code: rampart.EUNAUTHORIZED},
		{name: "gitlab ok", host: GitLab, header: hdr("X-Gitlab-Token", secret)},
		{name: "gitlab wrong token", host: GitLab, header: hdr("X-Gitlab-Token", secret+"x"), code: rampart.EUNAUTHORIZED},
		{name: "gitlab missing header", host: GitLab, header: hdr(), code: rampart.EUNAUTHORIZED},
		{name: "gitlab empty secret", host: GitLab, header: hdr("X-Gitlab-Token", ""), secret: "-", code: rampart.EUNAUTHORIZED},
		{name: "gitlab signature is not a token", host: GitLab, header: hdr("X-Hub-Signature-256", "sha256="+good), code: rampart.EUNAUTHORIZED},
		{name: "unknown host", host: "bitbucket", header: hdr("X-Hub-Signature-256", "sha256="+good), code: rampart.EINVALID},
		{name: "too large", host: GitHub, header: hdr(), body: make([]byte, MaxBodyBytes+1), code: rampart.ETOOLARGE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, s := tc.body, tc.secret
			if b == nil {
				b = body
			}
			switch s {
			case "":
				s = secret
			case "-":
				s = ""
			}
			err := Verify(tc.host, tc.header, b, s)
			if rampart.ErrorCode(err) != tc.code {
				t.Fatalf("Verify = %v, want code %q", err, tc.code)
			}
			if err != nil && (rampart.ErrorMessage(err) == "" || rampart.ErrorDetail(err) == "") {
				t.Errorf("error %v lacks a message or a detail", err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestVerifyDetailNamesCommand(t *testing.T) {
	err := Verify(GitHub, http.Header{}, []byte(`{}`), "k")
	if d := rampart.ErrorDetail(err); !strings.Contains(d, "rampart project webhook") {
		t.Errorf("detail %q does not say how to fix it", d)
	}
}
