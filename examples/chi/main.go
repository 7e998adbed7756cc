// Command chi is a chi service protected by API keys: every route needs a
// key, and the bots routes need scopes as well. Pages of one origin may
// call it from a browser (CORS, with github.com/go-chi/cors).
//
//	go run ./examples/chi            # listens on 127.0.0.1:8080
//	go run ./examples/chi -addr :9000 -cors-origin https://app.example.com
//
// It keeps keys in memory, creates a demo key at start and prints it once,
// with a curl line for each place a key can be sent, and one for the CORS
// preflight a browser sends first.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/internal/serving"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"
)

// defaultOrigin is the origin whose pages may call the service from a
// browser unless -cors-origin says otherwise: a front end's dev server.
const defaultOrigin = "http://localhost:3000"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	origin := flag.String("cors-origin", defaultOrigin, "origin whose pages may call the service from a browser")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr, *origin, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run is serve as `go run ./examples/chi` starts it, with the default
// origin.
func run(ctx context.Context, addr string, out io.Writer) error {
	return serve(ctx, addr, defaultOrigin, out)
}

// serve serves on addr until ctx is done, after printing the demo key and
// how to call the service to out. Pages of origin may call it from a
// browser.
func serve(ctx context.Context, addr, origin string, out io.Writer) error {
	keys := apikey.New(apikey.NewMemoryStore(), apikey.WithPrefix("demo"))
	defer keys.Close() // writes the last batch of last-used times

	demo, _, err := keys.Create(ctx, apikey.NewKey{
		Owner:  "alice",
		Name:   "demo",
		Scopes: []string{"bots:read"},
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Listening on %s\n\n", base)
	fmt.Fprintf(out, "Demo key for alice, scope bots:read (shown once, kept only as a hash):\n  %s\n\n", demo)
	fmt.Fprintf(out, "Call the service with it, in any of four ways:\n")
	fmt.Fprintf(out, "  curl -H 'X-API-Key: %s' %s/\n", demo, base)
	fmt.Fprintf(out, "  curl -H 'Authorization: Bearer %s' %s/\n", demo, base)
	fmt.Fprintf(out, "  curl -H 'Authorization: Token %s' %s/\n", demo, base)
	fmt.Fprintf(out, "  curl '%s/?x-api-key=%s'\n\n", base, demo)
	fmt.Fprintf(out, "A scoped route (200), one needing a scope the key lacks (403), a wrong key (401):\n")
	fmt.Fprintf(out, "  curl -H 'X-API-Key: %s' %s/api/v1/platform/bots\n", demo, base)
	fmt.Fprintf(out, "  curl -X POST -H 'X-API-Key: %s' %s/api/v1/platform/bots\n", demo, base)
	fmt.Fprintf(out, "  curl -H 'X-API-Key: demo_wrong' %s/\n\n", base)
	fmt.Fprintf(out, "Pages of %s may call it from a browser, which first sends a preflight, without the key (200 with CORS headers):\n", origin)
	fmt.Fprintf(out, "  curl -i -X OPTIONS -H 'Origin: %s' -H 'Access-Control-Request-Method: GET' -H 'Access-Control-Request-Headers: X-API-Key' %s/\n", origin, base)

	// Serve until ctx is done, then answer the requests under way before
	// returning, so the deferred keys.Close records their last uses.
	srv := &http.Server{Handler: newRouter(keys, newCORS(origin)), ReadHeaderTimeout: 10 * time.Second}
	return serving.Serve(ctx, srv, ln)
}

// newCORS lets pages of origin call the service from a browser: they may
// send the key in the headers the middleware reads, and read the headers
// that say why a request was refused or how much of its rate limit is
// left. Keys travel in headers, not cookies, so no credentials mode.
func newCORS(origin string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins: []string{origin},
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"X-API-Key", "Authorization", "Content-Type"},
		ExposedHeaders: []string{"WWW-Authenticate", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
		MaxAge:         600, // seconds a browser may reuse a preflight's answer
	})
}

// newRouter protects every route but /healthz with keys, and answers
// browsers as c allows. /healthz is routed outside the group the key
// middleware guards, rather than let through by a WithSkip function: the
// router decides what reaches a route, and a skip function would have to
// decide the same way (chi routes on the raw path, so a skip comparing
// the decoded r.URL.Path would also let /%68ealthz through, to a route
// such as /{account}).
func newRouter(keys *apikey.Manager, c *cors.Cors) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	// CORS comes first, for every request: it answers preflights, which
	// browsers send without the key, and puts its headers on every answer,
	// a 401 included, so a page can read why it was refused.
	r.Use(c.Handler)
	// chi's request logger is left out on purpose: it logs the query
	// string, and with it any key sent as ?x-api-key=.
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	r.Group(func(r chi.Router) {
		r.Use(protect(keys, c))
		r.Get("/", whoami)
		r.Route("/api/v1/platform/bots", func(r chi.Router) {
			r.With(apikey.RequireScopes("bots:read")).Get("/", listBots)
			r.With(apikey.RequireScopes("bots:write")).Post("/", listBots)
		})
	})
	return r
}

// protect is the key middleware of the protected routes. A preflight
// that reaches it goes to the CORS handler (apikey.WithPreflight), never
// to a route and never answered 401: on newRouter, CORS runs first and
// answers preflights itself, but a router that mounts these routes
// elsewhere, or adds CORS after the key middleware, still gets a
// preflight answered as CORS answers it.
func protect(keys *apikey.Manager, c *cors.Cors) func(http.Handler) http.Handler {
	return keys.Middleware(apikey.WithStripCredentials(), apikey.WithPreflight(c.Handler(http.NotFoundHandler())))
}

// whoami answers with the principal the key belongs to.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		// No key was verified for this request (a skipped route, say
		// /healthz's skip widened by mistake): never serve it as nobody.
		apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
		return
	}
	writeJSON(w, map[string]any{"key_id": p.KeyID, "owner": p.Owner, "name": p.Name, "scopes": p.Scopes()})
}

func listBots(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
		return
	}
	writeJSON(w, map[string]any{"owner": p.Owner, "bots": []string{"helper", "summariser"}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
