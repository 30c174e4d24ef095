package secrets

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Test values are made up: fill expands {class:n} in a template into n pseudo-random characters
// of the class, seeded by the template, so that every value has the right shape for its rule and
// none is a real credential.
var fillRE = regexp.MustCompile(`\{(an|hex|HEX|up|lo|b64|url|dig|alpha|b32|bech|a2z|AL|uuid)(?::(\d+))?\}`)

var fillClasses = map[string]string{
	"an":    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	"hex":   "0123456789abcdef",
	"HEX":   "0123456789ABCDEF",
	"up":    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
	"lo":    "abcdefghijklmnopqrstuvwxyz0123456789",
	"b64":   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
	"url":   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
	"dig":   "0123456789",
	"alpha": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	"b32":   "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
	"bech":  "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
	"a2z":   "abcdefghijklmnopqrstuvwxyz234567",
	"AL":    "ABCDEFGHIJKL",
}

func fill(tmpl string) string {
	sum := sha256.Sum256([]byte(tmpl))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
	gen := func(class string, n int) string {
		cs := fillClasses[class]
		b := make([]byte, n)
		for i := range b {
			b[i] = cs[rng.IntN(len(cs))]
			// Keep url-safe values from ending in a separator, which reads as a boundary.
			for (class == "url") && (i == 0 || i == n-1) && (b[i] == '-' || b[i] == '_') {
				b[i] = cs[rng.IntN(len(cs))]
			}
		}
		return string(b)
	}
	return fillRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		sm := fillRE.FindStringSubmatch(m)
		if sm[1] == "uuid" {
			return gen("hex", 8) + "-" + gen("hex", 4) + "-" + gen("hex", 4) + "-" + gen("hex", 4) + "-" + gen("hex", 12)
		}
		n, _ := strconv.Atoi(sm[2])
		return gen(sm[1], n)
	})
}

// ruleCases has, for every default rule, a true positive (tp: text in which the rule must
// report a secret) and a false positive (fp: a look-alike — wrong length, placeholder, reference
// to a variable, documented example — in which nothing at all may be reported).
var ruleCases = []struct{ rule, tp, fp string }{
	{"private-key", "-----BEGIN RSA PRIVATE KEY-----\n{b64:64}\n{b64:64}\n{b64:64}\n{b64:20}==\n-----END RSA PRIVATE KEY-----\n",
		"-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n-----BEGIN PUBLIC KEY-----\n{b64:64}\n-----END PUBLIC KEY-----"},
	{"private-key-escaped", `pem := "-----BEGIN RSA PRIVATE KEY-----\n{b64:64}\n{b64:64}\n{b64:20}==\n-----END RSA PRIVATE KEY-----\n"`,
		`PrivateKey: "-----BEGIN PRIVATE KEY-----\nREDACTED\n-----END PRIVATE KEY-----\n"`},
	{"putty-private-key", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20240101\nPublic-Lines: 2\n{b64:64}\n{b64:20}\nPrivate-Lines: 1\n{b64:64}\nPrivate-MAC: {hex:64}\n",
		"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n"},
	{"age-secret-key", "# created: 2024-01-01\nAGE-SECRET-KEY-1{bech:58}", "AGE-SECRET-KEY-1{bech:20}"},
	{"aws-access-key-id", "aws_access_key_id = AKIA{b32:16}", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"},
	{"aws-secret-access-key", "aws_secret_access_key = {b64:40}", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
	{"aws-session-token", "AWS_SESSION_TOKEN={b64:220}", "AWS_SESSION_TOKEN=${AWS_SESSION_TOKEN}"},
	{"aws-session-token-value", "session = IQoJb3JpZ2luX2Vj{b64:200}", "prefix IQoJb3JpZ2luX2Vj{b64:20}"},
	{"aws-mws-key", "mws: amzn.mws.{uuid}", "amzn.mws.not-a-uuid"},
	{"aws-bedrock-api-key", "BEDROCK=ABSK{b64:120}", "ABSK{b64:20}"},
	{"gcp-api-key", "key=AIza{url:35}", "AIza{url:20}"},
	{"gcp-service-account", "{\n  \"type\": \"service_account\",\n  \"project_id\": \"demo-project\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{b64:64}\\n{b64:64}\\n-----END PRIVATE KEY-----\\n\",\n  \"client_email\": \"ci@demo-project.iam.gserviceaccount.com\"\n}",
		"{\"type\": \"service_account\", \"private_key\": \"<private key>\"}"},
	{"gcp-oauth-client-secret", "client_secret: GOCSPX-{url:28}", "GOCSPX-{url:10}"},
	{"google-oauth-access-token", "access: ya29.{url:80}", "ya29.short"},
	{"google-oauth-refresh-token", "refresh: 1//0{url:60}", "1//0abc"},
	{"azure-ad-client-secret", "AZURE_CLIENT_SECRET=\"{an:3}8Q~{an:34}\"", "\"abc8Q~short\""},
	{"azure-storage-account-key", "DefaultEndpointsProtocol=https;AccountName=demo;AccountKey={b64:86}==;EndpointSuffix=core.windows.net",
		"DefaultEndpointsProtocol=https;AccountName=demo;AccountKey=<storage-account-key>;"},
	{"azure-shared-access-key", "Endpoint=sb://demo.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={b64:43}=",
		"Endpoint=sb://demo.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=...="},
	{"azure-sas-token", "https://demo.blob.core.windows.net/c?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig={b64:43}%3D",
		"https://demo.blob.core.windows.net/c?sv=2022-11-02&sig=<signature>"},
	{"azure-devops-pat", "ADO={an:52}JQQJ99{an:1}{AL:1}{an:16}AZDO{an:4}", "AZDO pipelines for {an:52}"},
	{"alibaba-access-key-id", "LTAI{an:20}", "LTAI{an:10}"},
	{"alibaba-secret-key", "alibaba_secret = \"{an:30}\"", "alibaba_region = \"cn-hangzhou\""},
	{"digitalocean-pat", "DO=dop_v1_{hex:64}", "dop_v1_{hex:10}"},
	{"digitalocean-oauth-token", "DO=doo_v1_{hex:64}", "doo_v1_{hex:10}"},
	{"digitalocean-refresh-token", "DO=dor_v1_{hex:64}", "dor_v1_{hex:10}"},
	{"linode-token", "LINODE_CLI_TOKEN={hex:64}", "LINODE_REGION=us-east"},
	{"heroku-api-key-v2", "HEROKU=HRKU-AA{url:58}", "HRKU-AA{url:10}"},
	{"heroku-api-key", "HEROKU_API_KEY={uuid}", "HEROKU_APP_NAME=my-app"},
	{"cloudflare-api-token", "CLOUDFLARE_API_TOKEN={url:40}", "CLOUDFLARE_ZONE=corp.internal"},
	{"cloudflare-global-api-key", "cloudflare_api_key = \"{hex:37}\"", "cloudflare_email = \"ops@corp.internal\""},
	{"cloudflare-origin-ca-key", "ORIGIN_CA=v1.0-{hex:24}-{hex:146}", "v1.0-{hex:24}"},
	{"fly-io-token", "FLY_API_TOKEN=fo1_{url:43}", "fo1_short"},
	{"scalingo-api-token", "SCALINGO=tk-us-{url:48}", "tk-us-short"},
	{"netlify-pat", "NETLIFY=nfp_{an:36}", "nfp_{an:10}"},
	{"yandex-api-key", "YC=AQVN{url:36}", "AQVN{url:10}"},
	{"dynatrace-api-token", "DT=dt0c01.{up:24}.{up:64}", "dt0c01.{up:24}"},
	{"supabase-access-token", "SUPABASE=sbp_{hex:40}", "sbp_{hex:8}"},
	{"planetscale-token", "PS=pscale_tkn_{url:43}", "pscale_tkn_short"},
	{"github-pat", "token: ghp_{an:36}", "ghp_{an:20}"},
	{"github-fine-grained-pat", "GH=github_pat_{an:22}_{an:59}", "github_pat_{an:22}"},
	{"github-oauth", "GH=gho_{an:36}", "gho_{an:20}"},
	{"github-app-token", "GH=ghs_{an:36}", "ghu_{an:20}"},
	{"github-refresh-token", "GH=ghr_{an:76}", "ghr_{an:20}"},
	{"gitlab-pat", "GITLAB=glpat-{url:20}", "glpat-{url:8}"},
	{"gitlab-deploy-token", "GL=gldt-{url:20}", "gldt-{url:8}"},
	{"gitlab-runner-token", "GL=glrt-{url:20}", "glrt-{url:8}"},
	{"gitlab-runner-registration-token", "GL=GR1348941{url:20}", "GR1348941{url:8}"},
	{"gitlab-pipeline-trigger-token", "GL=glptt-{hex:40}", "glptt-{hex:8}"},
	{"gitlab-cicd-job-token", "GL=glcbt-{an:2}_{url:20}", "glcbt-{an:2}_{url:8}"},
	{"gitlab-feed-token", "GL=glft-{url:20}", "glft-{url:8}"},
	{"gitlab-incoming-mail-token", "GL=glimt-{url:25}", "glimt-{url:8}"},
	{"gitlab-agent-token", "GL=glagent-{url:50}", "glagent-{url:8}"},
	{"gitlab-oauth-app-secret", "GL=gloas-{url:64}", "gloas-{url:8}"},
	{"gitlab-scim-token", "GL=glsoat-{url:20}", "glsoat-{url:8}"},
	{"gitlab-feature-flag-client-token", "GL=glffct-{url:20}", "glffct-{url:8}"},
	{"gitlab-session-cookie", "Cookie: _gitlab_session={lo:32}", "Cookie: _gitlab_session=abc"},
	{"bitbucket-app-password", "BB=ATBB{an:32}", "ATBB{an:8}"},
	{"bitbucket-client-secret", "BITBUCKET_CLIENT_SECRET={url:64}", "BITBUCKET_WORKSPACE=platform"},
	{"atlassian-api-token", "ATL=ATATT3{url:186}", "ATATT3{url:20}"},
	{"atlassian-legacy-api-token", "JIRA_API_TOKEN={an:24}", "JIRA_URL=https://jira.corp.internal"},
	{"azure-devops-legacy-pat", "AZURE_DEVOPS_PAT={a2z:52}", "AZURE_DEVOPS_ORG=contoso"},
	{"circleci-pat", "CCI=CCIPAT_{an:22}_{hex:40}", "CCIPAT_{an:22}"},
	{"buildkite-token", "BK=bkua_{hex:40}", "bkua_{hex:8}"},
	{"sonarqube-token", "SONAR=squ_{hex:40}", "squ_{hex:8}"},
	{"sourcegraph-token", "SG=sgp_{hex:16}_{hex:40}", "sgp_{hex:16}"},
	{"harness-token", "HARNESS=pat.{an:22}.{hex:24}.{an:20}", "pat.{an:22}"},
	{"octopus-deploy-api-key", "OCTO=API-{up:26}", "API-{up:10}"},
	{"infracost-api-key", "IC=ico-{an:32}", "ico-{an:8}"},
	{"terraform-cloud-token", "TFC={an:14}.atlasv1.{url:64}", "x.atlasv1.short"},
	{"vault-service-token", "VT=hvs.{url:95}", "hvs.{url:20}"},
	{"vault-batch-token", "VT=hvb.{url:150}", "hvb.{url:20}"},
	{"vault-legacy-token", "VAULT_TOKEN=s.{an:24}", "VAULT_ADDR=https://vault.corp.internal:8200"},
	{"pulumi-access-token", "PULUMI=pul-{hex:40}", "pul-{hex:8}"},
	{"doppler-token", "DOPPLER=dp.st.{an:43}", "dp.st.{an:8}"},
	{"prefect-api-key", "PREFECT=pnu_{an:36}", "pnu_{an:8}"},
	{"onepassword-service-account-token", "OP=ops_eyJ{b64:260}", "ops_eyJ{b64:20}"},
	{"rampart-credential", "RAMPART=rmp_{url:43}", "rmp_{url:10}"},
	{"npm-token", "NPM=npm_{an:36}", "npm_{an:10}"},
	{"npmrc-auth-token", "//registry.corp.internal/:_authToken={url:40}", "//registry.corp.internal/:_authToken=${NPM_TOKEN}"},
	{"pypi-token", "PYPI=pypi-AgEIcHlwaS5vcmc{url:60}", "pypi-AgEIcHlwaS5vcmc{url:10}"},
	{"rubygems-api-key", "GEM=rubygems_{hex:48}", "rubygems_{hex:8}"},
	{"nuget-api-key", "NUGET=oy2{lo:43}", "oy2{lo:10}"},
	{"dockerhub-pat", "DOCKER=dckr_pat_{url:27}", "dckr_pat_{url:8}"},
	{"dockerhub-oat", "DOCKER=dckr_oat_{url:32}", "dckr_oat_{url:8}"},
	{"docker-config-auth", "{\"auths\": {\"registry.corp.internal\": {\"auth\": \"{b64:40}\"}}}", "{\"auths\": {\"registry.corp.internal\": {\"auth\": \"\"}}}"},
	{"crates-io-token", "CARGO=cio{an:32}", "cio{an:8}"},
	{"artifactory-api-key", "ART=AKCp{an:69}", "AKCp{an:10}"},
	{"artifactory-reference-token", "ART=cmVmd{an:59}", "cmVmd{an:10}"},
	{"clojars-token", "CLOJARS=CLOJARS_{lo:60}", "CLOJARS_{lo:10}"},
	{"slack-bot-token", "SLACK=xoxb-{dig:12}-{dig:13}-{an:24}", "xoxb-123"},
	{"slack-user-token", "SLACK=xoxp-{dig:12}-{dig:12}-{dig:12}-{an:32}", "xoxp-1234"},
	{"slack-app-token", "SLACK=xapp-1-{up:11}-{dig:13}-{lo:64}", "xapp-1-short"},
	{"slack-config-access-token", "SLACK=xoxe.xoxp-1-{up:164}", "xoxe.xoxp-1-ABC"},
	{"slack-config-refresh-token", "SLACK=xoxe-1-{up:146}", "xoxe-1-ABC"},
	{"slack-legacy-token", "SLACK=xoxs-{dig:10}-{dig:10}-{dig:10}-{an:30}", "xoxs-abc"},
	{"slack-webhook-url", "url: https://hooks.slack.com/services/T{up:8}/B{up:10}/{an:24}", "https://hooks.slack.com/services/T000/B000/XXX"},
	{"discord-bot-token", "DISCORD_BOT_TOKEN=M{an:24}.{url:6}.{url:30}", "DISCORD_CHANNEL=general"},
	{"discord-webhook-url", "https://discord.com/api/webhooks/{dig:18}/{url:68}", "https://discord.com/api/webhooks/123/abc"},
	{"discord-client-secret", "DISCORD_CLIENT_SECRET={url:32}", "DISCORD_CLIENT_ID=1234"},
	{"telegram-bot-token", "TELEGRAM_BOT_TOKEN={dig:10}:AA{url:33}", "12345:AAshort"},
	{"microsoft-teams-webhook-url", "https://contoso.webhook.office.com/webhookb2/{uuid}@{uuid}/IncomingWebhook/{hex:32}/{uuid}",
		"https://contoso.webhook.office.com/webhookb2/<id>"},
	{"mattermost-token", "MATTERMOST_TOKEN={lo:26}", "MATTERMOST_URL=https://chat.corp.internal"},
	{"notion-token", "NOTION=ntn_{dig:11}{an:35}", "ntn_{dig:11}"},
	{"linear-api-key", "LINEAR=lin_api_{an:40}", "lin_api_{an:10}"},
	{"figma-pat", "FIGMA=figd_{url:40}", "figd_{url:10}"},
	{"postman-api-key", "POSTMAN=PMAK-{hex:24}-{hex:34}", "PMAK-{hex:24}"},
	{"typeform-token", "TYPEFORM=tfp_{lo:59}", "tfp_{lo:10}"},
	{"frameio-token", "FRAMEIO=fio-u-{url:64}", "fio-u-{url:10}"},
	{"readme-api-key", "README=rdme_{lo:70}", "rdme_{lo:10}"},
	{"contentful-pat", "CONTENTFUL=CFPAT-{url:43}", "CFPAT-{url:10}"},
	{"dropbox-token", "DROPBOX=sl.{url:140}", "ssl.Config{}"},
	{"hubspot-private-app-token", "HUBSPOT=pat-na1-{uuid}", "pat-na1-abc"},
	{"ubidots-token", "UBIDOTS=BBFF-{an:30}", "BBFF-{an:10}"},
	{"adobe-client-secret", "ADOBE=p8e-{an:32}", "p8e-{an:10}"},
	{"twitter-bearer-token", "TWITTER=AAAAAAAAAAAAAAAAAAAAA{an:60}", "AAAAAAAAAAAAAAAAAAAAA{an:10}"},
	{"facebook-page-access-token", "FB=EAAC{an:120}", "EAAC{an:20}"},
	{"sendgrid-api-key", "SENDGRID=SG.{url:22}.{url:43}", "SG.{url:22}"},
	{"twilio-api-key", "TW=SK{hex:32}", "SK{hex:10} task disk"},
	{"twilio-auth-token", "TWILIO_AUTH_TOKEN={hex:32}", "TWILIO_ACCOUNT_SID=AC{hex:32}"},
	{"mailgun-api-key", "MAILGUN_API_KEY=key-{hex:32}", "MAILGUN_DOMAIN=mg.corp.internal"},
	{"mailchimp-api-key", "MC={hex:32}-us6", "{hex:32}-useless"},
	{"mandrill-api-key", "MANDRILL_KEY=md-{url:22}", "MANDRILL_FROM=ops@corp.internal"},
	{"stripe-secret-key", "stripe: sk_live_{an:24}", "stripe: sk_test_4eC39HqLyjWDarjtT1zdp7dc"},
	{"stripe-webhook-secret", "STRIPE=whsec_{an:32}", "whsec_{an:8}"},
	{"square-access-token", "SQUARE=EAAA{url:60}", "EAAA{url:10}"},
	{"square-oauth-secret", "SQUARE=sq0csp-{url:43}", "sq0csp-{url:10}"},
	{"braintree-access-token", "BT=access_token$production${lo:16}${hex:32}", "access_token$production$short"},
	{"paypal-client-secret", "PAYPAL_CLIENT_SECRET=E{url:79}", "PAYPAL_MODE=sandbox"},
	{"shopify-access-token", "SHOPIFY=shpat_{hex:32}", "shpat_{hex:8}"},
	{"shopify-custom-app-token", "SHOPIFY=shpca_{hex:32}", "shpca_{hex:8}"},
	{"shopify-private-app-token", "SHOPIFY=shppa_{hex:32}", "shppa_{hex:8}"},
	{"shopify-shared-secret", "SHOPIFY=shpss_{hex:32}", "shpss_{hex:8}"},
	{"plaid-access-token", "PLAID=access-production-{uuid}", "access-production-abc"},
	{"flutterwave-secret-key", "FLW=FLWSECK-{hex:32}-X", "FLWSECK-{hex:8}-X"},
	{"shippo-api-token", "SHIPPO=shippo_live_{hex:40}", "shippo_live_{hex:8}"},
	{"easypost-api-key", "EASYPOST=EZAK{lo:54}", "EZAK{lo:10}"},
	{"datadog-api-key", "DD_API_KEY={hex:32}", "DD_SITE=datadoghq.eu"},
	{"datadog-app-key", "DD_APP_KEY={hex:40}", "DD_APP_NAME=web"},
	{"new-relic-user-api-key", "NR=NRAK-{up:27}", "NRAK-{up:10}"},
	{"new-relic-insert-key", "NR=NRII-{url:32}", "NRII-{url:10}"},
	{"new-relic-browser-api-token", "NR=NRJS-{hex:19}", "NRJS-{hex:8}"},
	{"new-relic-license-key", "NR={an:36}NRAL", "{an:10}NRAL"},
	{"sentry-org-token", "SENTRY=sntrys_eyJ{b64:100}", "sntrys_eyJ{b64:20}"},
	{"sentry-user-token", "SENTRY=sntryu_{hex:64}", "sntryu_{hex:10}"},
	{"sentry-access-token", "SENTRY_AUTH_TOKEN={hex:64}", "SENTRY_ORG=platform"},
	{"grafana-api-key", "GRAFANA=eyJrIjoi{an:80}", "eyJrIjoi{an:10}"},
	{"grafana-cloud-token", "GRAFANA=glc_{b64:40}", "glc_{b64:10}"},
	{"grafana-service-account-token", "GRAFANA=glsa_{an:32}_{hex:8}", "glsa_{an:10}"},
	{"maxmind-license-key", "MAXMIND={an:6}_{an:29}_mmk", "{an:6}_{an:10}_mmk"},
	{"databricks-token", "DATABRICKS=dapi{hex:32}", "dapi{hex:8}"},
	{"okta-api-token", "OKTA_API_TOKEN=00{url:40}", "OKTA_DOMAIN=corp.okta.com"},
	{"openai-api-key", "OPENAI=sk-proj-{url:40}T3BlbkFJ{url:40}", "T3BlbkFJ"},
	{"anthropic-api-key", "ANTHROPIC=sk-ant-api03-{url:93}AA", "sk-ant-api03-short"},
	{"anthropic-admin-key", "ANTHROPIC=sk-ant-admin01-{url:93}AA", "sk-ant-admin01-short"},
	{"huggingface-token", "HF=hf_{alpha:34}", "hf_{alpha:10}"},
	{"huggingface-org-token", "HF=api_org_{alpha:34}", "api_org_{alpha:10}"},
	{"groq-api-key", "GROQ=gsk_{an:52}", "gsk_{an:10}"},
	{"perplexity-api-key", "PPLX=pplx-{an:48}", "pplx-{an:10}"},
	{"xai-api-key", "XAI=xai-{an:80}", "xai-{an:10}"},
	{"replicate-api-token", "REPLICATE=r8_{an:37}", "r8_{an:10}"},
	{"mapbox-secret-token", "MAPBOX=sk.eyJ1{url:20}.{url:22}", "sk.eyJ1abc"},
	{"postgres-uri-password", "DATABASE_URL=postgres://app:{an:16}@db.internal:5432/app", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app"},
	{"mysql-uri-password", "dsn: mysql://app:{an:16}@10.0.0.5:3306/shop", "dsn: mysql://root:root@localhost/shop"},
	{"mongodb-uri-password", "MONGO=mongodb+srv://svc:{an:16}@cluster0.abcde.mongodb.net/db", "MONGO=mongodb://localhost:27017/db"},
	{"redis-uri-password", "REDIS=redis://:{an:16}@cache.internal:6379/0", "REDIS=redis://cache.internal:6379/0"},
	{"amqp-uri-password", "AMQP=amqp://svc:{an:16}@mq.internal:5672/", "AMQP=amqp://guest:guest@localhost:5672/"},
	{"sqlserver-uri-password", "DB=sqlserver://sa:{an:16}@db.internal:1433?database=app", "DB=sqlserver://sa:<password>@db.internal"},
	{"jdbc-password", "url: jdbc:mysql://db.internal:3306/app?user=app&password={an:16}", "url: jdbc:mysql://db.internal:3306/app?user=app&password=${DB_PASS}"},
	{"connection-string-password", "Server=tcp:db.internal,1433;Database=app;User Id=app;Password={an:16};", "Server=db;Database=app;User Id=app;Password=changeme;"},
	{"url-credentials", "git clone https://deploy:{an:20}@git.corp.internal/team/app.git", "see https://user:password@host/path"},
	{"jwt", "session=eyJ{url:20}.eyJ{url:30}.{url:43}", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"},
	{"basic-auth-header", "Authorization: Basic {b64:32}", "Authorization: Basic <credentials>"},
	{"bearer-token-header", "-H \"Authorization: Bearer {an:40}\"", "-H \"Authorization: Bearer $TOKEN\""},
	{"curl-user-password", "curl -u deploy:{an:16} https://ci.corp.internal/api", "curl -u \"$USER:$PASS\" https://ci.corp.internal/api"},
	{"sshpass-password", "sshpass -p {an:14} ssh deploy@host", "sshpass -p \"$SSH_PASS\" ssh deploy@host"},
	{"netrc-password", "machine git.corp.internal login deploy password {an:16}", "machine git.corp.internal login deploy password changeme"},
	{"xml-password", "<server><id>corp</id><password>{an:16}</password></server>", "<password>${env.DB_PASSWORD}</password>"},
	{"generic-password", "db_password = \"{an:16}\"", "password = os.Getenv(\"DB_PASSWORD\")"},
	{"generic-secret", "client_secret = \"{an:32}\"", "client_secret = cfg.ClientSecret"},
}

func TestRuleTable(t *testing.T) {
	d := New(nil)
	covered := map[string]bool{}
	for _, tc := range ruleCases {
		covered[tc.rule] = true
		t.Run(tc.rule, func(t *testing.T) {
			tp := fill(tc.tp)
			var found *Finding
			fs := d.Find(tp)
			for i := range fs {
				if fs[i].RuleID == tc.rule {
					found = &fs[i]
				}
			}
			if found == nil {
				t.Fatalf("true positive not found:\n%s\nfindings: %+v", tp, fs)
			}
			if found.Secret == "" || tp[found.Start:found.End] != found.Secret {
				t.Fatalf("finding %+v does not locate its secret", found)
			}
			fp := fill(tc.fp)
			if fs := d.Find(fp); len(fs) > 0 {
				t.Fatalf("look-alike reported:\n%s\nfindings: %+v", fp, fs)
			}
		})
	}
	for _, r := range DefaultRules() {
		if r.Regex != nil && !covered[r.ID] {
			t.Errorf("rule %s has no test case", r.ID)
		}
	}
}

// Every default rule has what scanning needs: keywords (the prefilter), a description, a
// severity, and keywords in lower case.
func TestDefaultRulesShape(t *testing.T) {
	rules := DefaultRules()
	if len(rules) < 120 {
		t.Errorf("%d default rules, want at least 120", len(rules))
	}
	for _, r := range rules {
		if r.Regex != nil && len(r.Keywords) == 0 {
			t.Errorf("rule %s has no keywords", r.ID)
		}
		if r.Description == "" || r.Severity == "" {
			t.Errorf("rule %s: description %q, severity %q", r.ID, r.Description, r.Severity)
		}
		for _, k := range r.Keywords {
			if k != strings.ToLower(k) {
				t.Errorf("rule %s: keyword %q is not lower case", r.ID, k)
			}
		}
	}
	if _, err := compile(rules, DefaultAllowlists()); err != nil {
		t.Fatal(err)
	}
}

// The rules marked as starting with a keyword find exactly what they find when tried on whole
// lines: on every test case, and on all of them run together with noise around.
func TestKeywordStart(t *testing.T) {
	rules := DefaultRules()
	plain := make([]Rule, len(rules))
	copy(plain, rules)
	for i := range plain {
		plain[i].keywordStart = false
	}
	fast, err := compile(rules, DefaultAllowlists())
	if err != nil {
		t.Fatal(err)
	}
	slow, err := compile(plain, DefaultAllowlists())
	if err != nil {
		t.Fatal(err)
	}
	anchored := 0
	for _, r := range fast.rules {
		if r.anchored != nil {
			anchored++
		}
	}
	if anchored < 100 {
		t.Errorf("only %d rules anchored", anchored)
	}
	var texts, all []string
	for _, tc := range ruleCases {
		texts = append(texts, fill(tc.tp), fill(tc.fp))
		all = append(all, "x"+fill(tc.tp)+" y ", "z="+fill(tc.fp)+"\n")
	}
	texts = append(texts, strings.Join(all, ""), strings.Join(all, "\n"), strings.Join(all, "_"), strings.Join(all, ".."))
	for _, text := range texts {
		a := fast.find([]byte(text), "f.txt", nil)
		b := slow.find([]byte(text), "f.txt", nil)
		if len(a) != len(b) {
			t.Errorf("anchored %d matches, whole lines %d, in\n%.200q", len(a), len(b), text)
			continue
		}
		for i := range a {
			if a[i] != b[i] {
				t.Errorf("match %d: anchored %+v (%s), whole lines %+v (%s)", i, a[i], fast.rules[a[i].rule].ID, b[i], slow.rules[b[i].rule].ID)
			}
		}
	}
}
