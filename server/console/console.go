// Package console is the web console `mqflux serve` shows at /: plain
// HTML, CSS and ES modules embedded in the binary, with uPlot vendored for
// the charts, so that nothing is fetched at run time and no JavaScript
// toolchain is needed to build or run mqflux. It reads the server's JSON
// endpoints (/v1/devices, /v1/alerts, /v1/stream, /v1/history,
// /v1/pipeline) like any other client.
package console

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/mqflux/mqflux/internal/httpjson"
)

//go:embed assets
var files embed.FS

var loginPage = template.Must(template.ParseFS(files, "assets/login.html"))

// Assets serves the console's static files under /assets/.
func Assets() http.Handler {
	sub, _ := fs.Sub(files, "assets")
	static := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		static.ServeHTTP(w, r)
	})
}

// Index serves the console's page.
func Index(w http.ResponseWriter, _ *http.Request) {
	b, err := files.ReadFile("assets/index.html")
	if err != nil {
		httpjson.Error(w, http.StatusInternalServerError, err.Error())
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b)
}

// Login writes the login form with status code, showing problem if any and
// keeping the user name typed.
func Login(w http.ResponseWriter, code int, user, problem string) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = loginPage.Execute(w, struct{ User, Error string }{user, problem})
}

// securityHeaders keeps the pages from being framed or loading anything
// from elsewhere.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
}
