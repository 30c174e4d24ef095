package secrets

import (
	"regexp"

	"github.com/rampart-ci/rampart/scan"
)

// Expression parts shared by the rules.
const (
	// assignment operators of config files and programming languages, with optional quotes.
	// A comma counts only between quoted strings: ("password", "…").
	assignOp = `(?:["']?[ \t]{0,3}(?:=|:=|::=|:|=>|\?=|<-)[ \t]{0,3}[\x60"']?|["'][ \t]{0,3},[ \t]{0,3}[\x60"'])`
	// end of a value: a quote, a separator, an escaped newline or the end of the line.
	valueEnd = `(?:[\x60"'\s;,)\]}>]|\\[nrt]|$)`
	uuid     = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`
)

// assigned builds an expression for a value in a known shape assigned to a name that contains
// one of names ("datadog" in DATADOG_API_KEY=…): for formats with no prefix of their own,
// where the name is the only evidence. names is an alternation, case-insensitive; value is
// case-sensitive and becomes group 1.
func assigned(names, value string) string {
	return `(?i)(?:` + names + `)[\w.\-]{0,25}?` + assignOp + `(?-i:(` + value + `))` + valueEnd
}

// DefaultRules returns the built-in rule set, specific formats first, generic ones last (of
// overlapping matches the earlier rule's is kept). Each expression anchors on the token's
// documented prefix or structure, or on the name it is assigned to, so that a match is very
// likely a real credential. The values were written from the vendors' public descriptions of
// their token formats.
func DefaultRules() []Rule {
	var rs []Rule
	// Most expressions start with one of their keywords (a token's prefix, the name a value is
	// assigned to): they are tried only where a keyword starts. These are the exceptions, whose
	// keyword is in the middle of the match; TestKeywordStart checks the rest.
	keywordInside := map[string]bool{"aws-session-token": true, "azure-ad-client-secret": true, "azure-sas-token": true,
		"azure-devops-pat": true, "azure-devops-legacy-pat": true, "google-oauth-refresh-token": true, "gcp-service-account": true,
		"discord-bot-token": true, "discord-webhook-url": true, "telegram-bot-token": true, "microsoft-teams-webhook-url": true,
		"mailchimp-api-key": true, "new-relic-license-key": true, "maxmind-license-key": true, "terraform-cloud-token": true,
		"openai-api-key": true, "connection-string-password": true}
	add := func(id, desc string, sev scan.Severity, entropy float64, re string, keywords ...string) *Rule {
		rs = append(rs, Rule{ID: id, Description: desc, Severity: sev, Entropy: entropy,
			Regex: regexp.MustCompile(re), SecretGroup: 1, Keywords: keywords, keywordStart: !keywordInside[id]})
		return &rs[len(rs)-1]
	}
	const H, M = scan.High, scan.Medium

	// Private keys and key files.
	add("private-key", "private key", H, 0,
		`(-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----\r?\n(?:[A-Za-z0-9-]+: [^\r\n]*\r?\n)*\r?\n?[A-Za-z0-9+/=\r\n\t ]{64,}?-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)`,
		"-----begin").Span = 16384
	add("putty-private-key", "PuTTY private key", H, 0,
		`(PuTTY-User-Key-File-[23]: [\w-]+\r?\n(?:[^\r\n]*\r?\n){1,40}?Private-Lines: \d+\r?\n[A-Za-z0-9+/=\r\n]{40,})`,
		"putty-user-key-file-").Span = 8192
	rs = append(rs, Rule{ID: "pkcs12-file", Description: "PKCS#12 key store file", Severity: H,
		Path: regexp.MustCompile(`(?i)\.(?:p12|pfx)$`)})
	add("age-secret-key", "age secret key", H, 0, `\b(AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})\b`, "age-secret-key-1")

	// Cloud providers.
	add("aws-access-key-id", "AWS access key id", H, 3, `\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b`, "akia", "asia", "abia", "acca", "a3t")
	add("aws-secret-access-key", "AWS secret access key", H, 4,
		`(?i)(?:aws[\w.\-]{0,20}?(?:secret|sk)|secret[_.\-]?access[_.\-]?key)[\w.\-]{0,20}?`+assignOp+`(?-i:([A-Za-z0-9/+]{40}))(?:[^A-Za-z0-9/+=]|$)`,
		"aws", "secret_access_key", "secretaccesskey", "secret-access-key", "secret.access.key")
	add("aws-session-token", "AWS session token", H, 4,
		`(?i)(?:aws|amz)[\w.\-]{0,20}?(?:session|security)[_.\-]?token[\w.\-]{0,10}?`+assignOp+`(?-i:([A-Za-z0-9/+=]{100,}))`,
		"session_token", "sessiontoken", "session-token", "security_token", "security-token", "securitytoken")
	add("aws-session-token-value", "AWS session token", H, 4, `\b((?:IQoJb3JpZ2luX2Vj|FwoGZXIvYXdzE)[A-Za-z0-9/+=]{100,})`, "iqojb3jpz2lux2vj", "fwogzxivyxdze")
	add("aws-mws-key", "Amazon MWS auth token", H, 0, `\b(amzn\.mws\.`+uuid+`)\b`, "amzn.mws.")
	add("aws-bedrock-api-key", "Amazon Bedrock API key", H, 4, `\b(ABSK[A-Za-z0-9+/]{109,269}={0,2})`, "absk")
	add("gcp-api-key", "Google API key", H, 3, `\b(AIza[0-9A-Za-z_\-]{35})(?:[^\w-]|$)`, "aiza")
	add("gcp-service-account", "Google Cloud service-account key", H, 0,
		`"type"\s*:\s*"service_account"[^{}]*?"private_key"\s*:\s*"(-----BEGIN[^"]{64,})"`, "service_account").Span = 4096
	// A private key written into one string with escaped line breaks, as in JSON, .env files and
	// test tables ("-----BEGIN … KEY-----\nMIIE…"). After gcp-service-account, which is the more
	// specific reading of the same text when both match.
	add("private-key-escaped", "private key (in a string, with escaped line breaks)", H, 0,
		`(-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:\\r)?\\n(?:[A-Za-z0-9+/= ]|\\r|\\n){64,}?-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----)`,
		"-----begin")
	add("gcp-oauth-client-secret", "Google OAuth client secret", H, 3, `\b(GOCSPX-[A-Za-z0-9_\-]{28})(?:[^\w-]|$)`, "gocspx-")
	add("google-oauth-access-token", "Google OAuth access token", H, 3.5, `\b(ya29\.[A-Za-z0-9_\-]{30,})`, "ya29.")
	add("google-oauth-refresh-token", "Google OAuth refresh token", H, 3.5, `(?:^|[^\w/])(1//0[A-Za-z0-9_\-]{40,})`, "1//0")
	add("azure-ad-client-secret", "Azure AD client secret", H, 3,
		`(?:^|[\\'"\x60\s>=:(,)])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?:$|[\\'"\x60\s<),;])`, "q~")
	add("azure-storage-account-key", "Azure storage account key", H, 4, `(?i)AccountKey\s*=\s*(?-i:([A-Za-z0-9+/]{86}==))`, "accountkey")
	add("azure-shared-access-key", "Azure shared access key", H, 4, `(?i)SharedAccessKey\s*=\s*(?-i:([A-Za-z0-9+/]{42,43}=))`, "sharedaccesskey")
	add("azure-sas-token", "Azure shared access signature", H, 3.5,
		`(?i)\bsv=\d{4}-\d{2}-\d{2}&[^\s'"<>]{0,200}?\bsig=(?-i:([A-Za-z0-9%+/]{40,}(?:%3[dD]|=){0,2}))`, "sig=")
	add("azure-devops-pat", "Azure DevOps personal access token", H, 3.5,
		`\b([A-Za-z0-9]{52}JQQJ9[9DH][A-Za-z0-9][A-L][A-Za-z0-9]{16}AZDO[A-Za-z0-9]{4})\b`, "azdo")
	add("alibaba-access-key-id", "Alibaba Cloud AccessKey id", H, 3, `\b(LTAI[A-Za-z0-9]{20})\b`, "ltai")
	add("alibaba-secret-key", "Alibaba Cloud AccessKey secret", H, 3.5, assigned(`alibaba|aliyun`, `[A-Za-z0-9]{30}`), "alibaba", "aliyun")
	add("digitalocean-pat", "DigitalOcean personal access token", H, 3, `\b(dop_v1_[a-f0-9]{64})\b`, "dop_v1_")
	add("digitalocean-oauth-token", "DigitalOcean OAuth token", H, 3, `\b(doo_v1_[a-f0-9]{64})\b`, "doo_v1_")
	add("digitalocean-refresh-token", "DigitalOcean refresh token", H, 3, `\b(dor_v1_[a-f0-9]{64})\b`, "dor_v1_")
	add("linode-token", "Linode API token", H, 3, assigned(`linode`, `[a-f0-9]{64}`), "linode")
	add("heroku-api-key-v2", "Heroku API key", H, 3.5, `\b(HRKU-AA[0-9A-Za-z_\-]{58})(?:[^\w-]|$)`, "hrku-aa")
	add("heroku-api-key", "Heroku API key", H, 3, assigned(`heroku`, uuid), "heroku")
	add("cloudflare-api-token", "Cloudflare API token", H, 3.5, assigned(`cloudflare|cf_api|cf-api|cf_token`, `[A-Za-z0-9_\-]{40}`), "cloudflare", "cf_api", "cf-api", "cf_token")
	add("cloudflare-global-api-key", "Cloudflare global API key", H, 3, assigned(`cloudflare|cf_api|cf-api`, `[a-f0-9]{37}`), "cloudflare", "cf_api", "cf-api")
	add("cloudflare-origin-ca-key", "Cloudflare Origin CA key", H, 3, `\b(v1\.0-[a-f0-9]{24}-[a-f0-9]{146})\b`, "v1.0-")
	add("fly-io-token", "Fly.io access token", H, 4, `\b(fo1_[\w\-]{43}|fm[12][ar]?_[A-Za-z0-9+/]{100,}={0,3})`, "fo1_", "fm1_", "fm1a_", "fm1r_", "fm2_", "fm2a_", "fm2r_")
	add("scalingo-api-token", "Scalingo API token", H, 3, `\b(tk-us-[\w\-]{48})(?:[^\w-]|$)`, "tk-us-")
	add("netlify-pat", "Netlify personal access token", H, 3, `\b(nfp_[A-Za-z0-9]{36})\b`, "nfp_")
	add("yandex-api-key", "Yandex Cloud API key", H, 3.5, `\b(AQVN[A-Za-z0-9_\-]{35,38})(?:[^\w-]|$)`, "aqvn")
	add("dynatrace-api-token", "Dynatrace API token", H, 3, `\b(dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64})\b`, "dt0c01")
	add("supabase-access-token", "Supabase access token", H, 3, `\b(sbp_[a-f0-9]{40})\b`, "sbp_")
	add("planetscale-token", "PlanetScale token or password", H, 3, `\b(pscale_(?:tkn|pw|oauth)_[\w=.\-]{32,64})`, "pscale_tkn_", "pscale_pw_", "pscale_oauth_")

	// Git hosts, CI and code-quality services.
	add("github-pat", "GitHub token", H, 3, `\b(ghp_[A-Za-z0-9]{36})\b`, "ghp_")
	add("github-fine-grained-pat", "GitHub fine-grained token", H, 3, `\b(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b`, "github_pat_")
	add("github-oauth", "GitHub OAuth token", H, 3, `\b(gho_[A-Za-z0-9]{36})\b`, "gho_")
	add("github-app-token", "GitHub App token", H, 3, `\b((?:ghu|ghs)_[A-Za-z0-9]{36})\b`, "ghu_", "ghs_")
	add("github-refresh-token", "GitHub refresh token", H, 3, `\b(ghr_[A-Za-z0-9]{36,76})\b`, "ghr_")
	add("gitlab-pat", "GitLab personal access token", H, 3, `\b(glpat-[\w\-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?)(?:[^\w.-]|$)`, "glpat-")
	add("gitlab-deploy-token", "GitLab deploy token", H, 3, `\b(gldt-[\w\-]{20,})(?:[^\w-]|$)`, "gldt-")
	add("gitlab-runner-token", "GitLab runner authentication token", H, 3, `\b(glrt-[\w\-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?)(?:[^\w.-]|$)`, "glrt-")
	add("gitlab-runner-registration-token", "GitLab runner registration token", H, 3, `\b(GR1348941[\w\-]{20})(?:[^\w-]|$)`, "gr1348941")
	add("gitlab-pipeline-trigger-token", "GitLab pipeline trigger token", H, 3, `\b(glptt-[0-9a-f]{40})\b`, "glptt-")
	add("gitlab-cicd-job-token", "GitLab CI/CD job token", H, 3, `\b(glcbt-[0-9a-zA-Z]{1,5}_[\w\-]{20,})(?:[^\w-]|$)`, "glcbt-")
	add("gitlab-feed-token", "GitLab feed token", H, 3, `\b(glft-[\w\-]{20,})(?:[^\w-]|$)`, "glft-")
	add("gitlab-incoming-mail-token", "GitLab incoming mail token", H, 3, `\b(glimt-[\w\-]{25,})(?:[^\w-]|$)`, "glimt-")
	add("gitlab-agent-token", "GitLab Kubernetes agent token", H, 3, `\b(glagent-[\w\-]{50,})(?:[^\w-]|$)`, "glagent-")
	add("gitlab-oauth-app-secret", "GitLab OAuth application secret", H, 3, `\b(gloas-[\w\-]{64})(?:[^\w-]|$)`, "gloas-")
	add("gitlab-scim-token", "GitLab SCIM token", H, 3, `\b(glsoat-[\w\-]{20,})(?:[^\w-]|$)`, "glsoat-")
	add("gitlab-feature-flag-client-token", "GitLab feature flag client token", H, 3, `\b(glffct-[\w\-]{20,})(?:[^\w-]|$)`, "glffct-")
	add("gitlab-session-cookie", "GitLab session cookie", H, 3, `_gitlab_session=([0-9a-z]{32})\b`, "_gitlab_session=")
	add("bitbucket-app-password", "Bitbucket app password", H, 3.5, `\b(ATBB[A-Za-z0-9_=.\-]{28,64})(?:[^\w=.-]|$)`, "atbb")
	add("bitbucket-client-secret", "Bitbucket OAuth client secret", H, 3.5, assigned(`bitbucket`, `[A-Za-z0-9=_\-]{64}`), "bitbucket")
	add("atlassian-api-token", "Atlassian API token", H, 3.5, `\b(ATATT3[A-Za-z0-9_\-=]{186})(?:[^\w=-]|$)`, "atatt3")
	add("atlassian-legacy-api-token", "Atlassian API token", H, 3.5, assigned(`atlassian|confluence|jira`, `[A-Za-z0-9]{24}`), "atlassian", "confluence", "jira")
	add("azure-devops-legacy-pat", "Azure DevOps personal access token", H, 3.5, assigned(`azure[_.\-]?devops|ado[_.\-]pat|vsts|system[_.]accesstoken`, `[a-z2-7]{52}`), "azure_devops", "azure-devops", "azuredevops", "azure.devops", "ado_pat", "ado-pat", "vsts", "accesstoken")
	add("circleci-pat", "CircleCI personal API token", H, 3, `\b(CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40})\b`, "ccipat_")
	add("buildkite-token", "Buildkite API token", H, 3, `\b(bkua_[a-f0-9]{40})\b`, "bkua_")
	add("sonarqube-token", "SonarQube token", H, 3, `\b((?:squ|sqp|sqa)_[a-f0-9]{40})\b`, "squ_", "sqp_", "sqa_")
	add("sourcegraph-token", "Sourcegraph access token", H, 3, `\b(sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40})\b`, "sgp_")
	add("harness-token", "Harness access token", H, 3, `\b((?:pat|sat)\.[A-Za-z0-9_\-]{22}\.[0-9a-f]{24}\.[A-Za-z0-9]{20})\b`, "pat.", "sat.")
	add("octopus-deploy-api-key", "Octopus Deploy API key", H, 3, `\b(API-[A-Z0-9]{26})\b`, "api-")
	add("infracost-api-key", "Infracost API key", H, 3, `\b(ico-[A-Za-z0-9]{32})\b`, "ico-")
	add("terraform-cloud-token", "Terraform Cloud API token", H, 3.5, `\b([A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9\-_=]{60,70})(?:[^\w=-]|$)`, "atlasv1")
	add("vault-service-token", "HashiCorp Vault service token", H, 3.5, `\b(hvs\.[\w\-]{90,120})(?:[^\w-]|$)`, "hvs.")
	add("vault-batch-token", "HashiCorp Vault batch token", H, 3.5, `\b(hvb\.[\w\-]{138,300})(?:[^\w-]|$)`, "hvb.")
	add("vault-legacy-token", "HashiCorp Vault token", H, 3.5, assigned(`vault`, `s\.[A-Za-z0-9]{24}`), "vault")
	add("pulumi-access-token", "Pulumi access token", H, 3, `\b(pul-[a-f0-9]{40})\b`, "pul-")
	add("doppler-token", "Doppler token", H, 3, `\b(dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44})\b`, "dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit.")
	add("prefect-api-key", "Prefect API key", H, 3, `\b(pnu_[A-Za-z0-9]{36})\b`, "pnu_")
	add("onepassword-service-account-token", "1Password service account token", H, 4, `\b(ops_eyJ[A-Za-z0-9+/]{250,}={0,3})`, "ops_eyj")
	add("rampart-credential", "Rampart credential", H, 3, `\b(rm[psarjw]_[A-Za-z0-9_\-]{43})(?:[^\w-]|$)`, "rmp_", "rms_", "rma_", "rmr_", "rmj_", "rmw_")

	// Package registries.
	add("npm-token", "npm access token", H, 3, `\b(npm_[A-Za-z0-9]{36})\b`, "npm_")
	add("npmrc-auth-token", "npm registry auth token", H, 3.5, `(?i)_auth(?:Token)?\s*=\s*["']?(?-i:([A-Za-z0-9._~+/=\-]{20,}))`, "_authtoken", "_auth")
	add("pypi-token", "PyPI upload token", H, 0, `\b(pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,})`, "pypi-age")
	add("rubygems-api-key", "RubyGems API key", H, 3, `\b(rubygems_[a-f0-9]{48})\b`, "rubygems_")
	add("nuget-api-key", "NuGet API key", H, 3, `\b(oy2[a-z0-9]{43})\b`, "oy2")
	add("dockerhub-pat", "Docker Hub personal access token", H, 3, `\b(dckr_pat_[A-Za-z0-9_\-]{27})(?:[^\w-]|$)`, "dckr_pat_")
	add("dockerhub-oat", "Docker Hub organisation access token", H, 3, `\b(dckr_oat_[A-Za-z0-9_\-]{32})(?:[^\w-]|$)`, "dckr_oat_")
	add("docker-config-auth", "registry credentials in a Docker config", H, 3, `"auth"\s*:\s*"([A-Za-z0-9+/]{16,}={0,2})"`, `"auth"`)
	add("crates-io-token", "crates.io API token", H, 3, `\b(cio[A-Za-z0-9]{32})\b`, "cio")
	add("artifactory-api-key", "JFrog Artifactory API key", H, 3, `\b(AKCp[A-Za-z0-9]{69})\b`, "akcp")
	add("artifactory-reference-token", "JFrog Artifactory reference token", H, 3, `\b(cmVmd[A-Za-z0-9]{59})\b`, "cmvmd")
	add("clojars-token", "Clojars deploy token", H, 3, `\b(CLOJARS_[a-z0-9]{60})\b`, "clojars_")

	// Chat and collaboration.
	add("slack-bot-token", "Slack bot token", H, 3, `\b(xoxb-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9\-]*)`, "xoxb-")
	add("slack-user-token", "Slack user token", H, 3, `\b(xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9]{28,34})\b`, "xoxp-", "xoxe-")
	add("slack-app-token", "Slack app-level token", H, 3, `(?i)\b(xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)\b`, "xapp-")
	add("slack-config-access-token", "Slack configuration access token", H, 3, `(?i)\b(xoxe\.xox[bp]-\d-[A-Z0-9]{163,166})\b`, "xoxe.xox")
	add("slack-config-refresh-token", "Slack configuration refresh token", H, 3, `(?i)\b(xoxe-\d-[A-Z0-9]{146})\b`, "xoxe-")
	add("slack-legacy-token", "Slack legacy token", H, 3, `\b(xox[aors]-(?:\d+-){1,3}[A-Za-z0-9]{8,48})\b`, "xoxa-", "xoxo-", "xoxr-", "xoxs-")
	add("slack-webhook-url", "Slack webhook URL", H, 3, `(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56})`, "hooks.slack.com")
	add("discord-bot-token", "Discord bot token", H, 3.5, `\b([MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})(?:[^\w-]|$)`, "discord")
	add("discord-webhook-url", "Discord webhook URL", H, 3, `(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_\-]{60,68})`, "discord")
	add("discord-client-secret", "Discord client secret", H, 3.5, assigned(`discord`, `[A-Za-z0-9_\-]{32}`), "discord")
	add("telegram-bot-token", "Telegram bot token", H, 3, `(?:^|[^0-9A-Za-z])([0-9]{8,10}:AA[A-Za-z0-9_\-]{33})(?:[^\w-]|$)`, ":aa")
	add("microsoft-teams-webhook-url", "Microsoft Teams webhook URL", H, 3,
		`(https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/`+uuid+`@`+uuid+`/IncomingWebhook/[a-f0-9]{32}/`+uuid+`(?:/[A-Za-z0-9_\-]+)?)`, "webhook.office.com")
	add("mattermost-token", "Mattermost access token", H, 3.5, assigned(`mattermost`, `[a-z0-9]{26}`), "mattermost")
	add("notion-token", "Notion integration token", H, 3, `\b(ntn_[0-9]{11}[A-Za-z0-9]{35})\b`, "ntn_")
	add("linear-api-key", "Linear API key", H, 3, `\b(lin_api_[A-Za-z0-9]{40})\b`, "lin_api_")
	add("figma-pat", "Figma personal access token", H, 3, `\b(figd_[\w\-]{40})(?:[^\w-]|$)`, "figd_")
	add("postman-api-key", "Postman API key", H, 3, `\b(PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b`, "pmak-")
	add("typeform-token", "Typeform personal access token", H, 3, `\b(tfp_[a-z0-9_\-=.]{59})(?:[^\w=.-]|$)`, "tfp_")
	add("frameio-token", "Frame.io API token", H, 3, `\b(fio-u-[\w=\-]{64})(?:[^\w=-]|$)`, "fio-u-")
	add("readme-api-key", "ReadMe API key", H, 3, `\b(rdme_[a-z0-9]{70})\b`, "rdme_")
	add("contentful-pat", "Contentful personal access token", H, 3, `\b(CFPAT-[\w\-]{43})(?:[^\w-]|$)`, "cfpat-")
	add("dropbox-token", "Dropbox access token", H, 4, `\b(sl\.(?:u\.)?[A-Za-z0-9_\-]{130,})`, "sl.")
	add("hubspot-private-app-token", "HubSpot private app token", H, 3, `\b(pat-(?:na|eu)1-`+uuid+`)\b`, "pat-na1-", "pat-eu1-")
	add("ubidots-token", "Ubidots token", H, 3, `\b(BBFF-[0-9a-zA-Z]{30})\b`, "bbff-")
	add("adobe-client-secret", "Adobe client secret", H, 3, `\b(p8e-[A-Za-z0-9]{32})\b`, "p8e-")
	add("twitter-bearer-token", "Twitter (X) bearer token", H, 3, `\b(A{21}[A-Za-z0-9%]{30,})`, "aaaaaaaaaaaaaaaaaaaaa")
	add("facebook-page-access-token", "Facebook access token", H, 3.5, `\b(EAA[MC][A-Za-z0-9]{100,})\b`, "eaam", "eaac")

	// Mail and messaging.
	add("sendgrid-api-key", "SendGrid API key", H, 3, `\b(SG\.[\w\-]{22}\.[\w\-]{43})(?:[^\w-]|$)`, "sg.")
	add("twilio-api-key", "Twilio API key", H, 3, `\b(SK[0-9a-fA-F]{32})\b`, "sk")
	add("twilio-auth-token", "Twilio auth token", H, 3, assigned(`twilio`, `[a-f0-9]{32}`), "twilio")
	add("mailgun-api-key", "Mailgun API key", H, 3, assigned(`mailgun`, `key-[a-f0-9]{32}|[a-f0-9]{32}-[a-f0-9]{8}-[a-f0-9]{8}`), "mailgun")
	add("mailchimp-api-key", "Mailchimp API key", H, 3, `\b([0-9a-f]{32}-us[0-9]{1,2})\b`, "-us")
	add("mandrill-api-key", "Mandrill API key", H, 3, assigned(`mandrill`, `md-[A-Za-z0-9_\-]{22}`), "mandrill")

	// Payment.
	add("stripe-secret-key", "Stripe secret key", H, 3, `\b((?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{10,99})\b`, "sk_live", "sk_test", "sk_prod", "rk_live", "rk_test", "rk_prod")
	add("stripe-webhook-secret", "Stripe webhook signing secret", H, 3, `\b(whsec_[A-Za-z0-9]{32,})\b`, "whsec_")
	add("square-access-token", "Square access token", H, 3.5, `\b(EAAA[A-Za-z0-9_\-]{60}|sq0atp-[A-Za-z0-9_\-]{22})(?:[^\w-]|$)`, "eaaa", "sq0atp-")
	add("square-oauth-secret", "Square OAuth secret", H, 3.5, `\b(sq0csp-[A-Za-z0-9_\-]{43})(?:[^\w-]|$)`, "sq0csp-")
	add("braintree-access-token", "PayPal Braintree access token", H, 3, `\b(access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32})\b`, "access_token$")
	add("paypal-client-secret", "PayPal client secret", H, 3.5, assigned(`paypal`, `E[A-Za-z0-9_\-]{79}`), "paypal")
	add("shopify-access-token", "Shopify access token", H, 3, `\b(shpat_[a-fA-F0-9]{32})\b`, "shpat_")
	add("shopify-custom-app-token", "Shopify custom app access token", H, 3, `\b(shpca_[a-fA-F0-9]{32})\b`, "shpca_")
	add("shopify-private-app-token", "Shopify private app access token", H, 3, `\b(shppa_[a-fA-F0-9]{32})\b`, "shppa_")
	add("shopify-shared-secret", "Shopify shared secret", H, 3, `\b(shpss_[a-fA-F0-9]{32})\b`, "shpss_")
	add("plaid-access-token", "Plaid access token", H, 3, `\b(access-(?:sandbox|development|production)-`+uuid+`)\b`, "access-sandbox-", "access-development-", "access-production-")
	add("flutterwave-secret-key", "Flutterwave secret key", H, 3, `\b(FLWSECK(?:_TEST)?-[a-f0-9]{32}-X)\b`, "flwseck")
	add("shippo-api-token", "Shippo API token", H, 3, `\b(shippo_(?:live|test)_[a-f0-9]{40})\b`, "shippo_")
	add("easypost-api-key", "EasyPost API key", H, 3, `\b(EZ[AT]K[a-z0-9]{54})\b`, "ezak", "eztk")

	// Observability.
	add("datadog-api-key", "Datadog API key", H, 3, assigned(`datadog|dd[_\-]api[_\-]?key|dd[_\-]apikey`, `[a-f0-9]{32}`), "datadog", "dd_api", "dd-api", "dd_apikey")
	add("datadog-app-key", "Datadog application key", H, 3, assigned(`datadog|dd[_\-]app(?:lication)?[_\-]?key`, `[a-f0-9]{40}`), "datadog", "dd_app", "dd-app")
	add("new-relic-user-api-key", "New Relic user API key", H, 3, `\b(NRAK-[A-Z0-9]{27})\b`, "nrak-")
	add("new-relic-insert-key", "New Relic insert key", H, 3, `\b(NRII-[\w\-]{32})(?:[^\w-]|$)`, "nrii-")
	add("new-relic-browser-api-token", "New Relic browser API token", M, 3, `\b(NRJS-[a-f0-9]{19})\b`, "nrjs-")
	add("new-relic-license-key", "New Relic license key", H, 3, `\b([A-Za-z0-9]{36}NRAL)\b`, "nral")
	add("sentry-org-token", "Sentry organisation auth token", H, 4, `\b(sntrys_eyJ[A-Za-z0-9+/=_\-]{80,})`, "sntrys_")
	add("sentry-user-token", "Sentry user auth token", H, 3, `\b(sntryu_[a-f0-9]{64})\b`, "sntryu_")
	add("sentry-access-token", "Sentry access token", H, 3, assigned(`sentry`, `[a-f0-9]{64}`), "sentry")
	add("grafana-api-key", "Grafana API key", H, 3, `\b(eyJrIjoi[A-Za-z0-9]{70,400}={0,2})`, "eyjrijoi")
	add("grafana-cloud-token", "Grafana Cloud API token", H, 3, `\b(glc_[A-Za-z0-9+/]{32,400}={0,2})`, "glc_")
	add("grafana-service-account-token", "Grafana service account token", H, 3, `\b(glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})\b`, "glsa_")
	add("maxmind-license-key", "MaxMind license key", H, 3, `\b([A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk)\b`, "_mmk")
	add("databricks-token", "Databricks access token", H, 3, `\b(dapi[a-f0-9]{32}(?:-\d)?)\b`, "dapi")
	add("okta-api-token", "Okta API token", H, 3.5, assigned(`okta`, `00[\w=\-]{40}`), "okta")

	// AI services.
	add("openai-api-key", "OpenAI API key", H, 3, `\b(sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_\-]{20,74}T3BlbkFJ[A-Za-z0-9_\-]{20,74})(?:[^\w-]|$)`, "t3blbkfj")
	add("anthropic-api-key", "Anthropic API key", H, 3, `\b(sk-ant-api03-[\w\-]{93}AA)(?:[^\w-]|$)`, "sk-ant-api03")
	add("anthropic-admin-key", "Anthropic admin key", H, 3, `\b(sk-ant-admin01-[\w\-]{93}AA)(?:[^\w-]|$)`, "sk-ant-admin01")
	add("huggingface-token", "Hugging Face access token", H, 3, `\b(hf_[A-Za-z]{34})\b`, "hf_")
	add("huggingface-org-token", "Hugging Face organisation token", H, 3, `\b(api_org_[A-Za-z]{34})\b`, "api_org_")
	add("groq-api-key", "Groq API key", H, 3, `\b(gsk_[A-Za-z0-9]{52})\b`, "gsk_")
	add("perplexity-api-key", "Perplexity API key", H, 3, `\b(pplx-[A-Za-z0-9]{48})\b`, "pplx-")
	add("xai-api-key", "xAI API key", H, 3, `\b(xai-[A-Za-z0-9]{80})\b`, "xai-")
	add("replicate-api-token", "Replicate API token", H, 3, `\b(r8_[A-Za-z0-9]{37})\b`, "r8_")
	add("mapbox-secret-token", "Mapbox secret token", H, 3.5, `\b(sk\.eyJ1[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,})`, "sk.eyj")

	// Connection strings and credentials in URLs.
	const uriPass = `:([^\s:@/'"\x60<>]{3,128})@[\w.\-\[\]]+`
	add("postgres-uri-password", "password in a PostgreSQL connection URI", H, 2, `(?i)\b(?:postgres(?:ql)?|pgsql)(?:\+\w+)?://[^\s:/@'"\x60]*`+uriPass, "postgres", "pgsql")
	add("mysql-uri-password", "password in a MySQL connection URI", H, 2, `(?i)\b(?:mysql|mariadb)(?:\+\w+)?://[^\s:/@'"\x60]*`+uriPass, "mysql", "mariadb")
	add("mongodb-uri-password", "password in a MongoDB connection URI", H, 2, `(?i)\bmongodb(?:\+srv)?://[^\s:/@'"\x60]*`+uriPass, "mongodb")
	add("redis-uri-password", "password in a Redis connection URI", H, 2, `(?i)\brediss?://[^\s:/@'"\x60]*`+uriPass, "redis")
	add("amqp-uri-password", "password in an AMQP connection URI", H, 2, `(?i)\bamqps?://[^\s:/@'"\x60]*`+uriPass, "amqp")
	add("sqlserver-uri-password", "password in a SQL Server connection URI", H, 2, `(?i)\b(?:sqlserver|mssql)://[^\s:/@'"\x60]*`+uriPass, "sqlserver", "mssql")
	add("jdbc-password", "password in a JDBC URL", H, 2, `(?i)\bjdbc:[a-z0-9:]+[^\s'"\x60]*?[?&;:]password=([^\s&;'"\x60<>]{3,128})`, "jdbc:")
	add("connection-string-password", "password in a connection string", H, 2.5,
		`(?i)(?:;\s*|["'])(?:password|pwd)\s*=\s*'?([^;"'\s()]{3,128})'?\s*(?:;|$|["'])`, "password=", "pwd=", "password =", "pwd =")
	add("url-credentials", "credentials in a URL", M, 2.5, `://[^\s:/@'"\x60<>]{1,64}`+uriPass, "://")

	// HTTP credentials and assignments.
	add("jwt", "JSON Web Token", M, 3, `\b(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})(?:[^\w-]|$)`, "eyj")
	add("basic-auth-header", "HTTP basic authentication credentials", M, 3, `(?i)\bauthorization["']?\s*[:=,]\s*["']?basic\s+([A-Za-z0-9+/]{12,}={0,2})`, "authorization")
	add("bearer-token-header", "HTTP bearer token", M, 3.5, `(?i)\bauthorization["']?\s*[:=,]\s*["']?bearer\s+([A-Za-z0-9._~+/\-]{20,}=*)`, "authorization")
	add("curl-user-password", "password in a curl command", M, 2.5, `\bcurl\b[^\n]*?\s(?:-u|--user)\s*["']?[^:\s'"]+:([^\s'"]{4,})`, "curl")
	add("sshpass-password", "password in an sshpass command", M, 2.5, `\bsshpass\s+-p\s*["']?([^\s'"]{4,})`, "sshpass")
	add("netrc-password", "password in a .netrc", M, 2.5, `(?i)\bmachine\s+\S+\s+login\s+\S+\s+password\s+(\S{4,})`, "machine")
	add("xml-password", "password in an XML element", M, 3, `(?i)<(?:password|passwd|secret|token|api[_\-]?key|client[_\-]?secret)>([^<>\s]{8,128})</`, "<password>", "<passwd>", "<secret>", "<token>", "<apikey>", "<api_key>", "<api-key>", "<client_secret>", "<client-secret>", "<clientsecret>")

	// Generic assignments, last. Values must look like generated credentials: entropy, a digit,
	// not a reference to a variable or a member.
	genericAllow := []Allowlist{{
		Description: "values that are code or configuration, not credentials",
		Regexes: []*regexp.Regexp{
			regexp.MustCompile(`^[^0-9]+$`),                                 // no digit: words and identifiers
			regexp.MustCompile(`^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$`), // member access: cfg.Token
			regexp.MustCompile(`^(?:\.{0,2}/|~/|[A-Za-z]:\\)`),              // file paths
			regexp.MustCompile(`^[a-z]+(?:[_\-][a-z0-9]+)+$`),               // snake-case or kebab-case names
			regexp.MustCompile(`^[0-9]+(?:\.[0-9]+)*$`),                     // numbers and versions
			regexp.MustCompile(`^(?:sha(?:1|256|384|512)|md5)[:\-]`),        // digests named as such
			regexp.MustCompile(`^v?\d+\.\d+\.\d+`),                          // versions
		},
		StopWords: []string{"secretkeyref", "secretname", "tokenurl", "token_url", "tokenendpoint", "keyring", "keychain",
			"keyfile", "keystore", "pubkey", "public", "publish", "config", "provider", "function", "handler", "example",
			"template", "getenv", "environ", "settings", "vault:", "arn:aws", "projects/", "secretmanager"},
	}, {
		Description: "names of identifiers, references and digests rather than of secrets (SecretID, tokenURL, keyHash)",
		RegexTarget: "match",
		Regexes:     []*regexp.Regexp{regexp.MustCompile(`(?i)^[\w.\-]*?(?:id|ids|name|type|url|uri|path|file|ref|hash|digest|sha\d*|checksum|length|size|count)["'\s]*(?:=|:=|::=|:|=>|\?=|<-)`)},
	}, {
		Description: "resource names that contain the word secret",
		RegexTarget: "line",
		Regexes:     []*regexp.Regexp{regexp.MustCompile(`arn:aws[\w-]*:`), regexp.MustCompile(`projects/[^/\s]+/secrets/`)},
	}}
	add("generic-password", "password assigned in code or configuration", M, 3,
		`(?i)(?:passw(?:or)?d|passwd|pwd|passphrase)[\w.\-]{0,20}?`+assignOp+`([^\s"'\x60$<>{}();,\[\]|]{8,64})`+valueEnd,
		"password", "passwd", "pwd", "passphrase").Allowlists = genericAllow
	add("generic-secret", "secret, token or key assigned in code or configuration", M, 3.5,
		`(?i)(?:secret|token|api[_.\-]?key|access[_.\-]?key|auth[_.\-]?key|private[_.\-]?key|credentials?|signing[_.\-]?key|encryption[_.\-]?key|master[_.\-]?key)[\w.\-]{0,20}?`+
			assignOp+`([A-Za-z0-9_+/=~.\-]{16,128})`+valueEnd,
		"secret", "token", "apikey", "api_key", "api-key", "api.key", "accesskey", "access_key", "access-key", "access.key",
		"authkey", "auth_key", "auth-key", "auth.key", "privatekey", "private_key", "private-key", "private.key", "credential",
		"signingkey", "signing_key", "signing-key", "signing.key", "encryptionkey", "encryption_key", "encryption-key", "encryption.key",
		"masterkey", "master_key", "master-key", "master.key").Allowlists = genericAllow

	return rs
}

// DefaultAllowlists returns the global allowlists that go with DefaultRules: documented example
// credentials (from vendors' documentation, which are no secret) and files that hold checksums
// or generated data rather than credentials.
func DefaultAllowlists() []Allowlist {
	return []Allowlist{
		{
			Description: "documented example credentials",
			Regexes: []*regexp.Regexp{regexp.MustCompile(`^(?:` +
				`AKIAIOSFODNN7EXAMPLE|wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY|` + // AWS documentation
				`sk_test_4eC39HqLyjWDarjtT1zdp7dc|` + // Stripe documentation
				`eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9\.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ\.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c` + // jwt.io
				`)$`)},
		},
		{
			Description: "checksums, lockfiles and generated assets",
			Paths: []*regexp.Regexp{regexp.MustCompile(`(?:^|/)(?:go\.sum|go\.work\.sum|package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|` +
				`Cargo\.lock|Gemfile\.lock|poetry\.lock|Pipfile\.lock|composer\.lock|packages\.lock\.json|gradle\.lockfile|mix\.lock|pubspec\.lock|` +
				`flake\.lock|deno\.lock|uv\.lock|Podfile\.lock|bun\.lockb)$|\.min\.(?:js|css)$|\.(?:js|css)\.map$|(?:^|/)(?:node_modules|\.git)/`)},
		},
	}
}
