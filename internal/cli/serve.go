package cli

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/go-apikey/apikey/internal/dbopen"
	"github.com/go-apikey/apikey/internal/serving"
)

// defaultServeAddr is where serve listens unless --addr says otherwise:
// beside the example services' 8080.
const defaultServeAddr = "127.0.0.1:8081"

var serveCmd = &command{
	name:    "serve",
	summary: "serve the admin page and API for the key database",
	help: `Serves the key admin page and its JSON API (package admin) for the key
database, on --addr (default 127.0.0.1:8081), under /admin/. Ops can manage
the keys of every service that shares the database from a browser.

Keys created here get --prefix (default "ak"): give the prefix your service
accepts. A rotated key keeps its own prefix. Keys are hashed with SHA-256; a
service that hashes with a server secret (apikey.WithHashers) will not accept
keys made here.

The API needs a key with the admin scope. When the database holds no enabled
admin key, serve creates one at start and prints it, once. The page keeps the
key in memory only; it is asked for again after a reload.

Serve listens on loopback by default: put it behind HTTPS before exposing it.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.StringVar(&o.addr, "addr", defaultServeAddr, "address to listen on")
		fs.StringVar(&o.prefix, "prefix", apikey.DefaultPrefix, "prefix of the keys created here")
	},
	run: func(ctx context.Context, e *env, o *options, _ []string) error {
		return e.withManager(ctx, o, createTable, o.prefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
			// Listen first: an admin key created for a server that cannot
			// start would be stored and never shown.
			ln, err := net.Listen("tcp", o.addr)
			if err != nil {
				return err
			}
			defer ln.Close()
			plain, err := ensureAdminKey(ctx, m)
			if err != nil {
				return err
			}
			base := "http://" + ln.Addr().String()
			setting := dbopen.Redact(dbopen.Setting(o.db, e.getenv))
			fmt.Fprintf(e.stdout, "Serving the keys of %s (table %s) at %s/admin/\n\n", setting, o.table, base)
			if plain != "" {
				fmt.Fprintf(e.stdout, "The database had no admin key, so one was created. Store it now: it will not be shown again.\n\n    %s\n\n", plain)
			} else {
				fmt.Fprintf(e.stdout, "Sign in with an existing admin key (scope %q); to make another:\n    apikey create --owner admin --scope %s\n\n", apikey.AdminScope, apikey.AdminScope)
				plain = "<admin key>"
			}
			fmt.Fprintf(e.stdout, "Open the page in a browser, or call the API:\n  curl -H 'X-API-Key: %s' %s/admin/keys\n", plain, base)

			mux := http.NewServeMux()
			mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(m)))
			mux.Handle("/{$}", http.RedirectHandler("/admin/", http.StatusFound))
			// Answer the requests under way before the manager and the
			// database close.
			srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			return serving.Serve(ctx, srv, ln)
		})
	},
}

// ensureAdminKey returns "" when the database holds an enabled admin key,
// and otherwise creates one and returns its plaintext.
func ensureAdminKey(ctx context.Context, m *apikey.Manager) (string, error) {
	now := time.Now()
	opts := apikey.ListOptions{Limit: apikey.MaxListLimit}
	for {
		page, err := m.List(ctx, opts)
		if err != nil {
			return "", err
		}
		for _, k := range page.Keys {
			if k.State(now) == apikey.StateEnabled && hasScope(k, apikey.AdminScope) {
				return "", nil
			}
		}
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	plain, _, err := m.Create(ctx, apikey.NewKey{
		Owner:       "admin",
		Name:        "apikey serve",
		Description: "created by 'apikey serve' because the database had no admin key",
		Scopes:      []string{apikey.AdminScope},
	})
	return plain, err
}

func hasScope(k apikey.Key, scope string) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}
