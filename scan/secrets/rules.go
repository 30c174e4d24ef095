package secrets

import "regexp"

// DefaultRules returns the built-in rule set. Each rule's expression anchors on the token's
// documented prefix or structure, so that a match is very likely a real credential.
func DefaultRules() []Rule {
	r := func(id, desc, re string, group int, keywords []string, entropy float64) Rule {
		return Rule{ID: id, Description: desc, Regex: regexp.MustCompile(re), SecretGroup: group, Keywords: keywords, Entropy: entropy}
	}
	const b = `(?:^|[^A-Za-z0-9_])` // a boundary before a token
	return []Rule{
		r("aws-access-key-id", "AWS access key id", b+`((?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`, 1, []string{"akia", "asia", "abia", "acca"}, 3),
		r("aws-secret-access-key", "AWS secret access key", `(?i)aws.{0,20}?(?:secret|key).{0,20}?['"=:\s]\s*([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)`, 1, []string{"aws"}, 4),
		r("github-token", "GitHub token", b+`((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36})\b`, 1, []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}, 3),
		r("github-fine-grained-pat", "GitHub fine-grained personal access token", b+`(github_pat_[A-Za-z0-9_]{82})\b`, 1, []string{"github_pat_"}, 3),
		r("gitlab-token", "GitLab token", b+`(gl(?:pat|dt|rt|cbt|ptt|ft|imt|oas)-[A-Za-z0-9_\-]{20,})\b`, 1, []string{"glpat-", "gldt-", "glrt-", "glcbt-", "glptt-", "glft-", "glimt-", "gloas-"}, 3),
		r("slack-token", "Slack token", b+`(xox[abposr]-[0-9A-Za-z-]{10,})`, 1, []string{"xox"}, 3),
		r("slack-webhook", "Slack webhook URL", `(https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/]{20,})`, 1, []string{"hooks.slack.com"}, 0),
		r("stripe-secret-key", "Stripe secret key", b+`((?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,})`, 1, []string{"sk_live", "sk_test", "rk_live", "rk_test"}, 3),
		r("google-api-key", "Google API key", b+`(AIza[0-9A-Za-z_\-]{35})\b`, 1, []string{"aiza"}, 3),
		r("gcp-service-account", "Google Cloud service-account key", `"type"\s*:\s*"service_account"[\s\S]{0,400}?"private_key"\s*:\s*"(-----BEGIN[^"]+)"`, 1, []string{"service_account"}, 0),
		r("private-key", "private key", `(-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,}?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----)`, 1, []string{"private key"}, 0),
		r("npm-token", "npm access token", b+`(npm_[A-Za-z0-9]{36})\b`, 1, []string{"npm_"}, 3),
		r("pypi-token", "PyPI upload token", b+`(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,})`, 1, []string{"pypi-ageichlwas5vcmc"}, 0),
		r("sendgrid-api-key", "SendGrid API key", b+`(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})\b`, 1, []string{"sg."}, 3),
		r("twilio-api-key", "Twilio API key", b+`(SK[0-9a-fA-F]{32})\b`, 1, []string{"sk"}, 3),
		r("jwt", "JSON Web Token", b+`(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})`, 1, []string{"eyj"}, 3),
		r("url-credentials", "credentials in a URL", `(?i)[a-z][a-z0-9+.\-]*://[^\s:/@'"]+:([^\s@/'"]{6,})@[a-z0-9.\-]+`, 1, []string{"://"}, 0),
		r("connection-string-password", "password in a connection string", `(?i)(?:password|pwd)\s*=\s*([^;'"\s]{8,})`, 1, []string{"password", "pwd"}, 2.5),
		r("rampart-credential", "Rampart credential", b+`(rm[psarjw]_[A-Za-z0-9_\-]{43})\b`, 1, []string{"rmp_", "rms_", "rma_", "rmr_", "rmj_", "rmw_"}, 3),
	}
}
