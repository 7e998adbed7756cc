package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/admin"
	"github.com/go-apikey/apikey/internal/cli/dbopen"
	"github.com/go-apikey/apikey/internal/serving"
)

// defaultServeAddr is where serve listens unless --addr says otherwise:
// beside the example services' 8080.
const defaultServeAddr = "127.0.0.1:8081"

var serveCmd = &command{
	name:    "serve",
	summary: "serve the admin page and API, and key checks for gateways",
	help: `Serves the key admin page and its JSON API (package admin) for the key
database, on --addr (default 127.0.0.1:8081), under /admin/. Ops can manage
the keys of every service that shares the database from a browser.

Keys created here get --prefix (default "ak"): give the prefix your service
accepts. A rotated key keeps its own prefix. Keys are hashed with SHA-256; a
service that hashes with a server secret (apikey.WithHashers) will not accept
keys made here.

The API needs a key with the admin scope. When the database holds no enabled
admin key, serve creates one at start. On a terminal it prints it, once.
Otherwise (under a service manager, or with output sent to a file) its output
is a log others may read, so it writes the key to a new file only you can
read (mode 0600), in --key-dir, and prints only where the file is. The page
keeps the key in memory only; it is asked for again after a reload.

Like create, serve makes the database and the table when they are missing.
It listens on loopback by default. The page is plain HTTP: with an --addr
other hosts can reach (0.0.0.0:8081, :8081, a LAN address), serve warns and
prints the host's addresses; put it behind HTTPS before exposing it.

Gateways in front of services in other languages can check keys here too
(package forwardauth). --forward-auth /auth answers nginx auth_request,
Traefik ForwardAuth and Caddy forward_auth at /auth: 200 with X-Auth-Key-Id,
X-Auth-Owner, X-Auth-Key-Name and X-Auth-Scopes (percent-encoded), or the
refusal a Go service would give. The client's request is read from
X-Forwarded-Method and X-Forwarded-Uri (--uri-header names another, such
as X-Original-URI). --ext-authz /ext_authz answers Envoy's HTTP ext_authz
with http_service.path_prefix /ext_authz. Name the gateway with
--trusted-proxy, so that keys with allowed IP ranges are judged by the
client's address in X-Forwarded-For, not the gateway's. --require
'[METHOD ]PATH=SCOPE[,SCOPE…]' asks scopes of the requests under PATH.
--shape, the regular expression given to apikey import, makes the checks
accept the imported keys of that shape as a service with
apikey.WithImportedKeys does. --admin=false serves the checks alone. Each
check costs one indexed query
(with --redis, a cache that Redis keeps fresh), and last-used times are
recorded as a service records them.

  apikey serve --addr 10.0.0.2:8081 --admin=false --forward-auth /auth \
      --trusted-proxy 10.0.0.5 --require 'POST /bots=bots:write'`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.StringVar(&o.addr, "addr", defaultServeAddr, "address to listen on")
		fs.StringVar(&o.prefix, "prefix", apikey.DefaultPrefix, "prefix of the keys created here")
		fs.StringVar(&o.keyDir, "key-dir", "", "`directory` for the file a new admin key is written to when the output is not a terminal (default: the user config directory's apikey, such as ~/.config/apikey)")
		fs.BoolVar(&o.admin, "admin", true, "serve the admin page and API under /admin/")
		fs.StringVar(&o.forwardAuth, "forward-auth", "", "answer nginx, Traefik and Caddy forward-auth checks at this `path`, such as /auth")
		fs.StringVar(&o.extAuthz, "ext-authz", "", "answer Envoy HTTP ext_authz checks under this `prefix` (its http_service.path_prefix), such as /ext_authz")
		fs.StringVar(&o.uriHeader, "uri-header", "X-Forwarded-Uri", "the `header` in which the gateway sends the client's request URI, for --forward-auth")
		fs.Var(&o.trusted, "trusted-proxy", "the gateway's `address` or range, whose X-Forwarded-For is believed; repeat for more")
		fs.Var(&o.rules, "require", "a `rule` '[METHOD ]PATH=SCOPE[,SCOPE…]': requests under PATH need the scopes; repeat for more")
		fs.StringVar(&o.shape, "shape", "", "the `regexp` given to apikey import --shape: keys of that shape imported from another system pass the checks too (apikey.WithImportedKeys)")
	},
	run: func(ctx context.Context, e *env, o *options, _ []string) error {
		if err := checkServeFlags(o); err != nil {
			return err
		}
		return e.withManager(ctx, o, createTable, o.prefix, func(m *apikey.Manager, _ *apikey.SQLStore) error {
			// Listen first: an admin key created for a server that cannot
			// start would be stored and never shown.
			ln, err := net.Listen("tcp", o.addr)
			if err != nil {
				return err
			}
			defer ln.Close()
			base, exposed, others := serveURLs(ln.Addr())
			mux := http.NewServeMux()
			if o.admin {
				if err := e.serveAdmin(ctx, m, o, base, exposed, others, mux); err != nil {
					return err
				}
			}
			handler := http.Handler(mux)
			if o.checks() {
				handler = e.serveChecks(m, o, base, mux)
			}
			// Answer the requests under way before the manager and the
			// database close.
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
			return serving.Serve(ctx, srv, ln)
		})
	},
}

// serveAdmin mounts the admin page and API on mux, after making an admin
// key if the database has none, and says how to use them.
func (e *env) serveAdmin(ctx context.Context, m *apikey.Manager, o *options, base string, exposed bool, others []string, mux *http.ServeMux) error {
	if err := e.warnPrefix(ctx, m, o, o.prefix); err != nil {
		return err
	}
	has, err := hasAdminKey(ctx, m)
	if err != nil {
		return err
	}
	var plain, file string
	var k apikey.Key
	if !has {
		if plain, k, file, err = e.newAdminKey(ctx, m, o.keyDir); err != nil {
			return err
		}
	}
	setting := dbopen.Redact(dbopen.Setting(o.db, e.getenv))
	fmt.Fprintf(e.stdout, "Serving the keys of %s (table %s) at %s/admin/\n", setting, o.table, base)
	if len(others) > 0 {
		fmt.Fprintf(e.stdout, "Other hosts may reach it at %s/admin/\n", strings.Join(others, "/admin/ or "))
	}
	fmt.Fprintln(e.stdout)
	if exposed {
		fmt.Fprintf(e.stderr, exposedWarning, o.addr)
	}
	switch {
	case file != "":
		fmt.Fprintf(e.stdout, "The database had no admin key, so one was created (ID %s, %s…). This output is not a\n"+
			"terminal, so the key is not printed; it is in a file only you can read:\n\n    %s\n\n"+
			"Store it, then delete the file.\n\n", k.ID, k.Start, file)
		plain = "<admin key>"
	case plain != "":
		fmt.Fprintf(e.stdout, "The database had no admin key, so one was created. Store it now: it will not be shown again.\n\n    %s\n\n", plain)
	default:
		fmt.Fprintf(e.stdout, "Sign in with an existing admin key (scope %q); to make another:\n    apikey create --owner admin --scope %s\n\n", apikey.AdminScope, apikey.AdminScope)
		plain = "<admin key>"
	}
	fmt.Fprintf(e.stdout, "Open the page in a browser, or call the API:\n  curl -H 'X-API-Key: %s' %s/admin/keys\n", plain, base)
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(m)))
	mux.Handle("/{$}", http.RedirectHandler("/admin/", http.StatusFound))
	return nil
}

// exposedWarning is what serve says when --addr reaches beyond this host.
const exposedWarning = "apikey serve: warning: --addr %s can be reached from other hosts, and the page is plain HTTP: " +
	"an admin key typed into it, and every key it makes, cross the network unencrypted. Put serve behind HTTPS " +
	"(a reverse proxy that terminates TLS), or listen on 127.0.0.1.\n"

// interfaceAddrs lists this host's addresses; tests replace it.
var interfaceAddrs = net.InterfaceAddrs

// maxOtherURLs bounds how many of the host's addresses serve prints (the
// first ones).
const maxOtherURLs = 4

// serveURLs returns the URL serve prints for a listener on addr, one a
// browser on this host can open: a listener on every interface
// (0.0.0.0, ::, or no host) is reached at 127.0.0.1, not at http://[::].
// exposed is whether other hosts can reach it too (any address but
// loopback), and others, for a listener on every interface, the URLs of
// this host's other addresses.
func serveURLs(addr net.Addr) (base string, exposed bool, others []string) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return "http://" + addr.String(), true, nil
	}
	ip, port := ap.Addr().Unmap().WithZone(""), ap.Port()
	if !ip.IsUnspecified() {
		return "http://" + netip.AddrPortFrom(ip, port).String(), !ip.IsLoopback(), nil
	}
	base = "http://" + netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port).String()
	ifaddrs, _ := interfaceAddrs() // none listed is fine: the warning stands
	for _, a := range ifaddrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		hostIP := p.Addr().Unmap()
		// A listener on 0.0.0.0 takes IPv4 only where the system keeps
		// the families apart; Go listens on both for "tcp".
		if !hostIP.IsGlobalUnicast() || (ip.Is4() && !hostIP.Is4()) {
			continue
		}
		if len(others) == maxOtherURLs {
			break
		}
		others = append(others, "http://"+netip.AddrPortFrom(hostIP, port).String())
	}
	return base, true, others
}

// hasAdminKey reports whether the database holds an enabled admin key.
func hasAdminKey(ctx context.Context, m *apikey.Manager) (bool, error) {
	now := time.Now()
	opts := apikey.ListOptions{Limit: apikey.MaxListLimit}
	for {
		page, err := m.List(ctx, opts)
		if err != nil {
			return false, err
		}
		for _, k := range page.Keys {
			if k.State(now) == apikey.StateEnabled && hasScope(k, apikey.AdminScope) {
				return true, nil
			}
		}
		if page.Next == "" {
			return false, nil
		}
		opts.After = page.Next
	}
}

// newAdminKey creates an admin key. On a terminal the caller prints it.
// Anywhere else (a service manager's journal, a redirect to a file) the
// output is a log that others may read and keep, so the key goes to a
// new file in dir that only the user can read, whose path is returned.
// The file is made first: a key nobody can read must not be left behind.
func (e *env) newAdminKey(ctx context.Context, m *apikey.Manager, dir string) (plain string, k apikey.Key, path string, err error) {
	var f *os.File
	if !e.terminal {
		if f, err = keyFile(dir); err != nil {
			return "", apikey.Key{}, "", err
		}
		defer func() {
			if err != nil {
				f.Close()
				os.Remove(f.Name())
			}
		}()
	}
	plain, k, err = m.Create(ctx, apikey.NewKey{
		Owner:       "admin",
		Name:        "apikey serve",
		Description: "created by 'apikey serve' because the database had no admin key",
		Scopes:      []string{apikey.AdminScope},
	})
	if err != nil || f == nil {
		return plain, k, "", err
	}
	if _, err = f.WriteString(plain + "\n"); err == nil {
		err = f.Close()
	}
	if err != nil {
		if rerr := m.Revoke(context.WithoutCancel(ctx), k.ID); rerr != nil {
			return "", apikey.Key{}, "", fmt.Errorf("writing the new admin key %s: %w; revoke it (apikey revoke %s): %v", k.ID, err, k.ID, rerr)
		}
		return "", apikey.Key{}, "", fmt.Errorf("writing the new admin key: %w (the key was revoked)", err)
	}
	return plain, k, f.Name(), nil
}

// keyFile creates a new file for an admin key in dir, or in the user
// config directory's apikey when dir is "", either made 0700 if missing.
// The file is new (a random name) and readable by its owner only before a
// byte is written.
func keyFile(dir string) (*os.File, error) {
	advice := "give --key-dir"
	if dir == "" {
		config, err := os.UserConfigDir()
		if err != nil {
			return nil, fmt.Errorf("no directory for the new admin key (%w): give --key-dir, or run serve on a terminal", err)
		}
		dir = filepath.Join(config, "apikey")
	} else {
		advice = "give another --key-dir"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("making a directory for the new admin key: %w; %s", err, advice)
	}
	// CreateTemp opens with O_EXCL and mode 0600, which a umask can only
	// narrow.
	f, err := os.CreateTemp(dir, "admin-key-*.txt")
	if err != nil {
		return nil, fmt.Errorf("creating a file for the new admin key: %w; %s", err, advice)
	}
	return f, nil
}

// isTerminal reports whether w is a terminal a person reads, where a new
// key may be printed: a character device other than the null device. A
// pipe, a socket (a service manager's journal) or a file is not one.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

func hasScope(k apikey.Key, scope string) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}
