package git

import (
	"context"
	"testing"
)

func TestCacheCommits(t *testing.T) {
	r := newTestRepo(t)
	gitT(t, r.dir, "-c", "user.name=Mallory Author", "-c", "user.email=mallory@example.com", "commit", "-q", "--allow-empty",
		"-m", "fix: patch the parser\n\nSecurity-Fix: INC-42")
	head := gitT(t, r.dir, "rev-parse", "HEAD")
	c := &Cache{Dir: t.TempDir()}
	ctx := context.Background()

	one, err := c.Commits(ctx, r.dir, "", head)
	if err != nil || len(one) != 1 {
		t.Fatalf("Commits(head): %v %+v", err, one)
	}
	if g := one[0]; g.SHA != head || g.AuthorName != "Mallory Author" || g.AuthorEmail != "mallory@example.com" ||
		g.Message != "fix: patch the parser\n\nSecurity-Fix: INC-42" || g.Time.IsZero() {
		t.Fatalf("commit: %+v", g)
	}
	span, err := c.Commits(ctx, r.dir, r.commits[0], head)
	if err != nil || len(span) != 3 || span[0].SHA != head || span[2].SHA != r.commits[1] {
		t.Fatalf("Commits(first..head): %v %d commits", err, len(span))
	}
	if _, err := c.Commits(ctx, r.dir, "--upload-pack=x", head); err == nil {
		t.Fatal("an option as a commit was accepted")
	}
}
