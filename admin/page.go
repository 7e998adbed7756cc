package admin

import (
	"embed"
	"net/http"
)

// static holds the page: plain HTML, CSS and JavaScript, with no build
// step and nothing loaded from elsewhere, so it works offline.
//
//go:embed static/index.html static/app.js static/app.css
var static embed.FS

// pageCSP allows the page its own script, style and API calls, and nothing
// else: no inline script or style, no framing, no form posts, and no
// string-to-HTML sinks (Trusted Types), so injected text stays text.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

var pageFiles = map[string]struct{ file, contentType string }{
	"/":        {"static/index.html", "text/html; charset=utf-8"},
	"/app.js":  {"static/app.js", "text/javascript; charset=utf-8"},
	"/app.css": {"static/app.css", "text/css; charset=utf-8"},
}

// servePage serves the page or one of its assets, with security headers.
func servePage(w http.ResponseWriter, r *http.Request, path string) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		apiHeaders(h)
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	f := pageFiles[path]
	b, err := static.ReadFile(f.file)
	if err != nil {
		panic("admin: embedded file missing: " + f.file) // a build without the assets
	}
	h.Set("Content-Type", f.contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
