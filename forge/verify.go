package forge

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/rampart-ci/rampart"
)

// fixSecret tells the user how to make a refused webhook pass.
const fixSecret = "set the webhook secret in the git host to the one shown by `rampart project webhook PROJECT`"

// Verify checks that a webhook request with header and body was sent by host ("github",
// "gitlab" or "gitea") with the project's webhook secret:
//
//   - GitHub: X-Hub-Signature-256 must be "sha256=" followed by the hex HMAC-SHA256 of body
//     keyed with secret;
//   - Gitea: X-Gitea-Signature must be that HMAC in hex, without prefix; when it is absent,
//     X-Hub-Signature-256 (which Gitea sends as well) is checked as for GitHub;
//   - GitLab: X-Gitlab-Token must equal secret (GitLab sends the secret itself, not a signature).
//
// Hex digits may be in either case. All comparisons take constant time. An empty secret refuses
// every request: an HMAC with an empty key is one anybody can compute.
//
// Verify returns nil when the request is authentic; EUNAUTHORIZED, saying what was missing or
// wrong and how to fix it, when it is not; EINVALID for an unknown host; ETOOLARGE for a body
// over MaxBodyBytes.
func Verify(host string, header http.Header, body []byte, secret string) error {
	switch host {
	case GitHub, GitLab, Gitea:
	default:
		return unknownHost(host)
	}
	if len(body) > MaxBodyBytes {
		return tooLarge(len(body))
	}
	if secret == "" {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "the project has no webhook secret, so webhooks are refused").
			WithDetail("create one with `rampart project webhook PROJECT` and set it in the git host")
	}
	switch host {
	case GitHub:
		return verifyHMAC(header, "X-Hub-Signature-256", "sha256=", body, secret)
	case Gitea:
		if header.Get("X-Gitea-Signature") != "" {
			return verifyHMAC(header, "X-Gitea-Signature", "", body, secret)
		}
		return verifyHMAC(header, "X-Hub-Signature-256", "sha256=", body, secret)
	default: // GitLab
		return verifyToken(header.Get("X-Gitlab-Token"), secret)
	}
}

// verifyHMAC checks that the header name holds prefix and the hex HMAC-SHA256 of body.
func verifyHMAC(header http.Header, name, prefix string, body []byte, secret string) error {
	value := strings.TrimSpace(header.Get(name))
	if value == "" {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "webhook request has no %s header", name).
			WithDetail("%s; a webhook without a secret is not signed", fixSecret)
	}
	digits, ok := strings.CutPrefix(value, prefix)
	if !ok {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "webhook %s header does not start with %q", name, prefix).
			WithDetail("only HMAC-SHA256 signatures are accepted; %s", fixSecret)
	}
	got, err := hex.DecodeString(digits)
	if err != nil || len(got) != sha256.Size {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "webhook %s header is not a hex HMAC-SHA256", name).
			WithDetail(fixSecret)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "webhook signature in %s does not match the body", name).
			WithDetail("%s; a proxy that changes the body also breaks the signature", fixSecret)
	}
	return nil
}

// verifyToken checks GitLab's token. Both sides are hashed first so that the comparison takes
// the same time whatever the token's length.
func verifyToken(token, secret string) error {
	if token == "" {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "webhook request has no X-Gitlab-Token header").
			WithDetail(fixSecret)
	}
	got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "webhook X-Gitlab-Token does not match the project's webhook secret").
			WithDetail(fixSecret)
	}
	return nil
}
