// Command hostauth is a service whose web users sign in with a session
// (github.com/alexedwards/scs) or a JWT (github.com/golang-jwt/jwt), and
// whose programs call the same routes with API keys:
//
//	go run ./examples/hostauth            # listens on 127.0.0.1:8080
//
// The key middleware judges any key-shaped credential as a key (a bad key
// is refused and never falls through to the login); a request without one
// goes to the service's own authenticator (apikey.WithHostAuth), which
// accepts the session cookie or a JWT in Authorization: Bearer. The
// handler tells the two kinds of caller apart with Principal.Kind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/golang-jwt/jwt/v5"

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

// service is the example's state: its keys, its sessions and the secret
// its JWTs are signed with.
type service struct {
	keys      *apikey.Manager
	sessions  *scs.SessionManager
	jwtSecret []byte
}

// users are the service's own accounts: name -> password, and roles,
// which become scopes for its web users.
var users = map[string]struct {
	password string
	scopes   []string
}{
	"carol": {"correct horse", []string{"bots:read", "bots:write"}},
	"dave":  {"battery staple", []string{"bots:read"}},
}

func newService(keys *apikey.Manager, secret []byte) *service {
	sessions := scs.New()
	sessions.Cookie.HttpOnly = true
	sessions.Cookie.SameSite = http.SameSiteLaxMode
	return &service{keys: keys, sessions: sessions, jwtSecret: secret}
}

// handler is the whole service: login routes, and the API behind keys or
// the service's own login.
func (s *service) handler() http.Handler {
	api := http.NewServeMux()
	api.Handle("GET /api/v1/platform/bots", apikey.RequireScopes("bots:read")(http.HandlerFunc(listBots)))
	api.Handle("POST /api/v1/platform/bots", apikey.RequireScopes("bots:write")(http.HandlerFunc(listBots)))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /token", s.token)
	mux.Handle("/api/", s.keys.Middleware(apikey.WithHostAuth(s.authenticate))(api))
	// The session is loaded before the key middleware asks for it.
	return s.sessions.LoadAndSave(mux)
}

// authenticate is the service's own login, for requests without a key: a
// JWT in Authorization: Bearer, or else the session.
func (s *service) authenticate(r *http.Request) (apikey.Principal, bool, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		claims := &jwt.RegisteredClaims{}
		_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.jwtSecret, nil },
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired())
		if err != nil {
			return apikey.Principal{}, false, err
		}
		return userPrincipal(claims.Subject)
	}
	if name := s.sessions.GetString(r.Context(), "user"); name != "" {
		return userPrincipal(name)
	}
	return apikey.Principal{}, false, nil
}

// userPrincipal is the principal of one of the service's users, with the
// scopes of their roles.
func userPrincipal(name string) (apikey.Principal, bool, error) {
	u, ok := users[name]
	if !ok {
		return apikey.Principal{}, false, errors.New("no such user")
	}
	return apikey.Principal{Owner: name}.WithScopes(u.scopes...), true, nil
}

// login starts a session for a user who gives the right password.
func (s *service) login(w http.ResponseWriter, r *http.Request) {
	name, password := r.PostFormValue("user"), r.PostFormValue("password")
	if u, ok := users[name]; !ok || u.password != password {
		http.Error(w, "wrong user or password", http.StatusUnauthorized)
		return
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.sessions.Put(r.Context(), "user", name)
	fmt.Fprintf(w, "signed in as %s\n", name)
}

// token gives the signed-in user a JWT valid for an hour.
func (s *service) token(w http.ResponseWriter, r *http.Request) {
	name := s.sessions.GetString(r.Context(), "user")
	if name == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: name, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString(s.jwtSecret)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, tok)
}

// listBots tells which kind of caller asked.
func listBots(w http.ResponseWriter, r *http.Request) {
	p, ok := apikey.FromContext(r.Context())
	if !ok {
		apikey.DefaultErrorHandler(w, r, apikey.ErrMissingKey)
		return
	}
	fmt.Fprintf(w, "bots of %s (signed in with: %s)\n", p.Owner, p.Kind())
}

// run serves on addr until ctx is done, after printing how to call the
// service to out.
func run(ctx context.Context, addr string, out io.Writer) error {
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	demo, _, err := keys.Create(ctx, apikey.NewKey{Owner: "ci", Name: "demo", Scopes: []string{"bots:read"}})
	if err != nil {
		return err
	}
	s := newService(keys, []byte("example secret: use a random one, from your configuration"))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Listening on %s\n\n", base)
	fmt.Fprintf(out, "A program, with an API key (shown once):\n  curl -H 'X-API-Key: %s' %s/api/v1/platform/bots\n\n", demo, base)
	fmt.Fprintf(out, "A web user, with a session:\n  curl -c jar -d user=carol -d 'password=correct horse' %s/login\n  curl -b jar %s/api/v1/platform/bots\n\n", base, base)
	fmt.Fprintf(out, "The same user, with a JWT:\n  curl -H \"Authorization: Bearer $(curl -s -b jar -X POST %s/token)\" %s/api/v1/platform/bots\n", base, base)
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	return serving.Serve(ctx, srv, ln)
}
