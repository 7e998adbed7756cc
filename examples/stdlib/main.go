// Command stdlib is a net/http service, on http.ServeMux alone, protected
// by API keys.
//
//	go run ./examples/stdlib            # listens on 127.0.0.1:8080
//	go run ./examples/stdlib -addr :9000
//
// It keeps keys in memory, creates a demo key at start and prints it once,
// with a curl line for each place a key can be sent.
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

// run serves on addr until ctx is done, after printing the demo key and how
// to call the service to out.
func run(ctx context.Context, addr string, out io.Writer) error {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	demo, record, err := keys.Create(ctx, apikey.NewKey{Owner: "alice", Name: "demo", Scopes: []string{"reports:read"}})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", hello)
	mux.Handle("GET /reports", apikey.RequireScopes("reports:read")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "Q3 report: all green") })))
	mux.Handle("DELETE /reports", apikey.RequireScopes("reports:admin")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Listening on %s\n", url)
	fmt.Fprintf(out, "Demo key %s for alice (shown once; the server keeps only its hash):\n  %s\n", record.ID, demo)
	for _, call := range []string{
		"curl -H 'X-API-Key: %[1]s' %[2]s/",
		"curl -H 'Authorization: Bearer %[1]s' %[2]s/",
		"curl -H 'Authorization: Token %[1]s' %[2]s/",
		"curl '%[2]s/?x-api-key=%[1]s'",
		"curl -H 'X-API-Key: %[1]s' %[2]s/reports              # 200: the key has reports:read",
		"curl -X DELETE -H 'X-API-Key: %[1]s' %[2]s/reports    # 403: it lacks reports:admin",
		"curl %[2]s/                                            # 401: no key",
	} {
		fmt.Fprintf(out, "  "+call+"\n", demo, url)
	}

	// Serve until ctx is done, then answer the requests under way before
	// returning, so the deferred keys.Close records their last uses.
	srv := &http.Server{Handler: keys.Middleware()(mux), ReadHeaderTimeout: 10 * time.Second}
	return serving.Serve(ctx, srv, ln)
}

// hello greets the principal of the request's key.
func hello(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		// No key was verified for this request (the middleware is
		// missing, or skipped it): never serve it as nobody.
		apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
		return
	}
	fmt.Fprintf(w, "Hello, %s! (key %s)\n", p.Owner, p.KeyID)
}
