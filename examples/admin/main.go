// Command admin is a service protected by API keys, with the key admin page
// and API mounted at /admin/.
//
//	go run ./examples/admin            # listens on 127.0.0.1:8080
//	go run ./examples/admin -addr :9000
//
// It keeps keys in memory, creates an admin key (scope admin) and a demo
// key at start, and prints the page's address, the admin key (once) and a
// curl line for each admin endpoint.
package main

import (
	"context"
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
	"github.com/go-apikey/apikey/admin"
	"github.com/go-apikey/apikey/internal/serving"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run serves on addr until ctx is done, after printing the admin key and
// how to use the service to out.
func run(ctx context.Context, addr string, out io.Writer) error {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()

	adminKey, _, err := keys.Create(ctx, apikey.NewKey{Owner: "ops", Name: "admin", Scopes: []string{apikey.AdminScope}})
	if err != nil {
		return err
	}
	_, demo, err := keys.Create(ctx, apikey.NewKey{Owner: "alice", Name: "demo", Scopes: []string{"bots:read"}})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	// The admin handler protects its own API and serves its page to anyone,
	// so it is mounted as it is, outside the key middleware.
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.New(keys)))
	mux.Handle("/", keys.Middleware()(http.HandlerFunc(hello)))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Listening on %s\n\n", base)
	fmt.Fprintf(out, "Admin page: %s/admin/\n\n", base)
	fmt.Fprintf(out, "Admin key, owner ops, scope admin (shown once, kept only as a hash):\n  %s\n\n", adminKey)
	fmt.Fprintf(out, "Call the protected route with it:\n")
	fmt.Fprintf(out, "  curl -H 'X-API-Key: %s' %s/\n\n", adminKey, base)
	fmt.Fprintf(out, "Manage keys over HTTP (%s is alice's demo key):\n", demo.ID)
	auth := "-H 'X-API-Key: " + adminKey + "'"
	json := "-H 'Content-Type: application/json'"
	for _, line := range []string{
		fmt.Sprintf("curl %s '%s/admin/keys?limit=10'", auth, base),
		fmt.Sprintf(`curl -X POST %s %s -d '{"name":"ci","owner":"alice","scopes":["bots:read"],"ttl":"720h"}' %s/admin/keys`, auth, json, base),
		fmt.Sprintf("curl %s %s/admin/keys/%s", auth, base, demo.ID),
		fmt.Sprintf(`curl -X PATCH %s %s -d '{"name":"demo (renamed)","scopes":["bots:read","bots:write"]}' %s/admin/keys/%s`, auth, json, base, demo.ID),
		fmt.Sprintf(`curl -X POST %s %s -d '{"grace":"24h"}' %s/admin/keys/%s/rotate`, auth, json, base, demo.ID),
		fmt.Sprintf("curl -X DELETE %s %s/admin/keys/%s", auth, base, demo.ID),
	} {
		fmt.Fprintf(out, "  %s\n", line)
	}

	// Serve until ctx is done, then answer the requests under way before
	// returning, so the deferred keys.Close records their last uses.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return serving.Serve(ctx, srv, ln)
}

// hello greets the principal of the request's key.
func hello(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		// No key was verified for this request (a route mounted outside
		// the middleware, or one it skipped): never serve it as nobody.
		apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
		return
	}
	fmt.Fprintf(w, "Hello, %s! (key %s)\n", p.Owner, p.KeyID)
}
