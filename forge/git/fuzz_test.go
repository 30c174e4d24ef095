package git

import (
	"strings"
	"testing"
)

// FuzzCheck checks that whatever CheckURL and CheckRef accept can never be taken for an option
// and carries no control characters.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"https://github.com/org/repo.git", "git@github.com:org/repo.git", "/srv/repo", "file:///srv/repo",
		"main", "refs/tags/v1", "--upload-pack=touch /tmp/x", "ssh://-oProxyCommand=x/y", "a..b", "ext::sh",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, check := range map[string]func(string) error{"CheckURL": CheckURL, "CheckRef": CheckRef} {
			if check(s) != nil {
				continue
			}
			if strings.HasPrefix(s, "-") || hasControl(s) {
				t.Fatalf("%s accepted %q", name, s)
			}
			if name == "CheckRef" && (strings.Contains(s, "..") || strings.ContainsAny(s, " :\\")) {
				t.Fatalf("CheckRef accepted %q", s)
			}
			if name == "CheckURL" && strings.Contains(s, "::") && !strings.Contains(s, "://") {
				t.Fatalf("CheckURL accepted remote helper syntax %q", s)
			}
		}
	})
}
