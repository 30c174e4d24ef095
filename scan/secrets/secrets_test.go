package secrets

import (
	"strings"
	"testing"
)

// The planted values below are made up for these tests; none is a real credential.
func TestDefaultRulesFindPlantedCredentials(t *testing.T) {
	d := New(nil)
	for _, tc := range []struct {
		rule, text, secret string
	}{
		{"aws-access-key-id", "aws_access_key_id = AKIAZ3MHQ7BNW4XKPLRS", "AKIAZ3MHQ7BNW4XKPLRS"},
		{"aws-secret-access-key", `AWS_SECRET_ACCESS_KEY="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"`, "q8Fh2kLm9Zx7Vb4Nc6Wd1Rt5Ys3Ju0Ip8Oa2Eg7K"},
		{"github-pat", "token: ghp_Zq7R2mX9kLp4Vt8Nw3Yc6Hb1Jd5Fs0Ga2Qe7", "ghp_Zq7R2mX9kLp4Vt8Nw3Yc6Hb1Jd5Fs0Ga2Qe7"},
		{"gitlab-pat", "GITLAB=glpat-Xk29fLq8ZmR3vT7yNw1p", "glpat-Xk29fLq8ZmR3vT7yNw1p"},
		{"slack-bot-token", "xoxb-2847561930-9182736450-Zk3mQ9rT7vXw2LpN", "xoxb-2847561930-9182736450-Zk3mQ9rT7vXw2LpN"},
		{"stripe-secret-key", "stripe: sk_live_51Hq8ZkLm2Xn9Vt4Rw7Yp3Jc", "sk_live_51Hq8ZkLm2Xn9Vt4Rw7Yp3Jc"},
		{"gcp-api-key", "key=AIzaSyD8kQ2mZx9Lp4Vt7Nw3Rb6Hc1Jf5Gs0QaB", "AIzaSyD8kQ2mZx9Lp4Vt7Nw3Rb6Hc1Jf5Gs0QaB"},
		{"npm-token", "//registry.npmjs.org/:_authToken=npm_k29ZqL8mX3vR7tN1wY5pJ4cH6bF0gD2sA9eQ", "npm_k29ZqL8mX3vR7tN1wY5pJ4cH6bF0gD2sA9eQ"},
		{"postgres-uri-password", "DATABASE_URL=postgres://app:Hx82kqLmZ9@db.internal:5432/app", "Hx82kqLmZ9"},
		{"jwt", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.k2Xq9LmZ8vR3tN7wY1pJ4c", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.k2Xq9LmZ8vR3tN7wY1pJ4c"},
		{"rampart-credential", "RAMPART_TOKEN=rmp_VKx6jYA2GHKHbwclufUJCoVLj6mBSjStTShVIQeh2hk", "rmp_VKx6jYA2GHKHbwclufUJCoVLj6mBSjStTShVIQeh2hk"},
		{"private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACBq7Zk2Lm9Xv4Rt8Nw3Yc6Hb1Jd5Fs0Ga2Qe7Pz9KcXwAAAJgK\n-----END OPENSSH PRIVATE KEY-----", ""},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			fs := d.Find(tc.text)
			if len(fs) == 0 || fs[0].RuleID != tc.rule {
				t.Fatalf("Find(%q) = %+v, want rule %s", tc.text, fs, tc.rule)
			}
			if tc.secret != "" && fs[0].Secret != tc.secret {
				t.Fatalf("secret %q, want %q", fs[0].Secret, tc.secret)
			}
			if strings.Contains(Redact(fs[0].Secret), fs[0].Secret[4:]) {
				t.Fatalf("Redact shows the secret")
			}
		})
	}
}

func TestNoFindingsOnLookAlikes(t *testing.T) {
	d := New(nil)
	for _, text := range []string{
		"aws_access_key_id = ${AWS_ACCESS_KEY_ID}",
		"token: ${{ secrets.GITHUB_TOKEN }}",
		"DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
		"password = changeme",
		"api_key: <your-api-key>",
		"go build ./... && go test ./...",
		"sha256: 5f4dcc3b5aa765d61d8327deb882cf99",
		"the quick brown fox jumps over the lazy dog",
	} {
		if fs := d.Find(text); len(fs) > 0 {
			t.Errorf("Find(%q) = %+v, want none", text, fs)
		}
	}
}

func TestLooksLikeCredential(t *testing.T) {
	d := New(nil)
	for _, tc := range []struct {
		name, value string
		want        bool
	}{
		{"DEPLOY_TOKEN", "Zq7R2mX9kLp4Vt8Nw3Yc", true},
		{"DB_PASSWORD", "hunter2-Zk9!qLm3#x", true},
		{"API_KEY", "${API_KEY}", false},
		{"DB_PASSWORD", "changeme-please-now", false},
		{"GOFLAGS", "-mod=readonly -trimpath", false},
		{"CGO_ENABLED", "0", false},
		{"DEBUG_LEVEL", "Zq7R2mX9kLp4Vt8Nw3Yc", false}, // high entropy, harmless name
		{"URL", "https://user:Hx82kqLmZ9@example.com/", true},
		{"KEYBOARD", "us-intl-altgr-dead", false},
	} {
		if got, why := d.LooksLikeCredential(tc.name, tc.value); got != tc.want {
			t.Errorf("LooksLikeCredential(%s, …) = %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
}

func FuzzFind(f *testing.F) {
	f.Add("token=ghp_Zq7R2mX9kLp4Vt8Nw3Yc6Hb1Jd5Fs0Ga2Qe7")
	f.Add("postgres://a:bcdefgh@x/y")
	f.Fuzz(func(t *testing.T, s string) {
		for _, fd := range New(nil).Find(s) {
			if fd.Start < 0 || fd.End > len(s) || s[fd.Start:fd.End] != fd.Secret {
				t.Fatalf("finding %+v does not locate its secret", fd)
			}
		}
	})
}
