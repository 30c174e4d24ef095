package web

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/rampart-ci/rampart"
)

// loginCookie holds the token of the sign-in form. The session's CSRF token cannot protect the
// sign-in itself (there is no session yet), so the form and this SameSite=Strict cookie carry
// the same random value: a page of another site can post a form but cannot send the cookie, and
// cannot sign a victim's browser into the attacker's account ("login CSRF").
const loginCookie = "rampart_login"

type loginData struct {
	Username string
	Next     string
	Token    string
	Error    string
	Detail   string
}

func (ui *UI) secure(r *http.Request) bool { return ui.cfg.SecureCookies || r.TLS != nil }

// loginToken returns the sign-in form token of the browser, making and setting one when it has
// none, so that several open sign-in tabs share one.
func (ui *UI) loginToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(loginCookie); err == nil && validLoginToken(c.Value) {
		return c.Value
	}
	tok := rand.Text()
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: tok, Path: "/login", MaxAge: 3600,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: ui.secure(r),
	})
	return tok
}

func validLoginToken(s string) bool {
	if len(s) < 20 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// safeNext returns next if it is a path on this server, else "/": the sign-in page must not
// become a redirector to other sites.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "/login") {
		return "/"
	}
	return u.RequestURI()
}

func (ui *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) error {
	d.Token = ui.loginToken(w, r)
	p, err := ui.newPage(r, "Sign in", nil)
	if err != nil {
		return err
	}
	p.Actor = nil // the sign-in page shows no navigation, whoever asks
	p.Data = d
	return ui.render(w, status, "login", p)
}

func (ui *UI) handleLoginPage(w http.ResponseWriter, r *http.Request) error {
	return ui.renderLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// handleLogin signs in with a user name and password through the auth service, which rate
// limits failures per user and per address and audits every attempt, then starts a session with
// a new id (never one the browser brought) and the same cookie attributes as the API's sign-in.
func (ui *UI) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return rampart.Errorf(rampart.EINVALID, "unreadable sign-in form").WithDetail("reload the sign-in page and try again")
	}
	d := loginData{Username: strings.TrimSpace(r.PostFormValue("username")), Next: safeNext(r.PostFormValue("next"))}
	c, err := r.Cookie(loginCookie)
	if err != nil || !validLoginToken(c.Value) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("login_token"))) != 1 {
		d.Error = "The sign-in form expired or was sent from another site."
		d.Detail = "Sign in again on this page. If it keeps happening, allow cookies for this server."
		return ui.renderLogin(w, r, http.StatusForbidden, d)
	}
	password := r.PostFormValue("password")
	if d.Username == "" || password == "" {
		d.Error = "Enter your user name and password."
		return ui.renderLogin(w, r, http.StatusBadRequest, d)
	}
	source := ui.cfg.ClientAddr(r)
	u, err := ui.cfg.Auth.Login(r.Context(), d.Username, password, source)
	if err != nil {
		status := http.StatusUnauthorized
		switch rampart.ErrorCode(err) {
		case rampart.EUNAUTHORIZED:
		case rampart.ETOOMANY:
			status = http.StatusTooManyRequests
		default:
			return err
		}
		d.Error, d.Detail = rampart.ErrorMessage(err)+".", rampart.ErrorDetail(err)
		return ui.renderLogin(w, r, status, d)
	}
	id, sess, err := ui.cfg.Auth.CreateSession(r.Context(), u, source)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: ui.cfg.CookieName, Value: id, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: ui.secure(r),
	})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: ui.secure(r)})
	return seeOther(w, r, d.Next)
}

// handleLogout ends the session the request came with. The server has checked its CSRF token.
func (ui *UI) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if err := ui.cfg.Auth.Logout(r.Context(), actorOf(r), false); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: ui.cfg.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: ui.secure(r)})
	return seeOther(w, r, "/login?done=signed-out")
}
