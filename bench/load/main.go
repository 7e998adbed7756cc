// Command load measures what the apikey middleware costs a real HTTP
// server: it serves on 127.0.0.1, drives the server with concurrent
// keep-alive clients for a bounded time and number of requests, and prints
// requests per second and p50/p99 latency for each scenario:
//
//	none        the handler alone, no middleware
//	memory      the middleware over the memory store, a valid key
//	mix         the same with 90% valid and 10% invalid keys
//	postgres    the SQL store on PostgreSQL behind the cache, default TTL (10 s)
//	pg-feed     the same following the NOTIFY change feed, with a 10 min TTL,
//	            as recommended for production (both need -postgres)
//
// Scenarios run in turns (none, memory, mix, postgres, none, ...) so that
// drift on a noisy machine spreads over all of them. Each round compares a
// scenario with "none" from the same round, and the report gives the median
// of those paired ratios, with the median round's figures: on a shared
// 2-core machine that is far steadier than comparing best rounds.
//
//	go run ./load -duration 5s -clients 16
//	go run ./load -postgres 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/go-apikey/apikey/cache"
	"github.com/go-apikey/apikey/internal/sqltest"
	"github.com/go-apikey/apikey/pgfeed"
	_ "github.com/jackc/pgx/v5/stdlib"
)

func main() {
	cfg := config{}
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "how long each round of a scenario runs")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent clients")
	flag.IntVar(&cfg.maxRequests, "max-requests", 2_000_000, "stop a round after this many requests")
	flag.IntVar(&cfg.rounds, "rounds", 7, "rounds of every scenario")
	flag.StringVar(&cfg.postgres, "postgres", os.Getenv("APIKEY_POSTGRES_DSN"), "PostgreSQL DSN for the postgres scenario (empty skips it)")
	flag.Parse()
	results, err := run(context.Background(), cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	report(os.Stdout, results)
}

type config struct {
	duration    time.Duration
	clients     int
	maxRequests int
	rounds      int
	postgres    string
}

// result is one scenario's median round, and its median loss against
// "none" over paired rounds.
type result struct {
	name      string
	requests  int
	perSecond float64
	p50, p99  time.Duration
	statuses  map[int]int
	// vsNone is the median over rounds of perSecond / none's perSecond in
	// the same round, minus one.
	vsNone float64
}

type scenario struct {
	name    string
	handler http.Handler
	keys    []string // requests cycle through these
}

func run(ctx context.Context, cfg config, progress io.Writer) ([]result, error) {
	scenarios, cleanup, err := setup(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	rounds := map[string][]result{}
	ratios := map[string][]float64{}
	for round := range cfg.rounds {
		var none float64
		for _, s := range scenarios {
			res, err := drive(ctx, cfg, s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			fmt.Fprintf(progress, "round %d %-9s %9.0f req/s p50 %-9v p99 %v\n", round+1, s.name, res.perSecond, res.p50, res.p99)
			if s.name == "none" {
				none = res.perSecond
			}
			rounds[s.name] = append(rounds[s.name], res)
			ratios[s.name] = append(ratios[s.name], res.perSecond/none-1)
		}
	}
	out := make([]result, 0, len(scenarios))
	for _, s := range scenarios {
		rs := rounds[s.name]
		slices.SortFunc(rs, func(a, b result) int { return cmp.Compare(a.perSecond, b.perSecond) })
		res := rs[len(rs)/2]
		r := ratios[s.name]
		slices.Sort(r)
		res.vsNone = r[len(r)/2]
		out = append(out, res)
	}
	return out, nil
}

func setup(ctx context.Context, cfg config) ([]scenario, func(), error) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		owner := "anonymous"
		if p, ok := apikey.FromContext(r.Context()); ok {
			owner = p.Owner
		}
		_, _ = io.WriteString(w, "hello "+owner+"\n")
	})
	var closers []func()
	cleanup := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	mem := apikey.New(apikey.NewMemoryStore())
	closers = append(closers, func() { mem.Close() })
	valid, err := issue(ctx, mem, 1000)
	if err != nil {
		return nil, cleanup, err
	}
	other := apikey.New(apikey.NewMemoryStore())
	invalid, err := issue(ctx, other, 100)
	other.Close()
	if err != nil {
		return nil, cleanup, err
	}
	// 90% valid, 10% invalid: 9 valid keys then 1 invalid, repeated.
	var mix []string
	for i := range 100 {
		mix = append(mix, valid[i*9:i*9+9]...)
		mix = append(mix, invalid[i])
	}
	scenarios := []scenario{
		{"none", hello, valid[:1]},
		{"memory", mem.Middleware()(hello), valid},
		{"mix", mem.Middleware()(hello), mix},
	}
	if cfg.postgres != "" {
		db, err := sql.Open("pgx", cfg.postgres)
		if err != nil {
			return nil, cleanup, err
		}
		closers = append(closers, func() { db.Close() })
		table := "apikey_load_" + strings.ToLower(rand.Text()[:10])
		store, err := apikey.NewSQLStore(db, apikey.Postgres, apikey.WithTable(table))
		if err != nil {
			return nil, cleanup, err
		}
		if err := store.Migrate(ctx); err != nil {
			return nil, cleanup, err
		}
		closers = append(closers, func() { _ = sqltest.Drop(context.Background(), db, apikey.Postgres, table) })
		pg := apikey.New(cache.New(store))
		closers = append(closers, func() { pg.Close() })
		pgKeys, err := issue(ctx, pg, 1000)
		if err != nil {
			return nil, cleanup, err
		}
		feed, err := pgfeed.New(cfg.postgres, store)
		if err != nil {
			return nil, cleanup, err
		}
		followed := cache.New(store, cache.WithFeed(feed), cache.WithTTL(10*time.Minute))
		closers = append(closers, func() { followed.Close() })
		withFeed := apikey.New(followed)
		closers = append(closers, func() { withFeed.Close() })
		scenarios = append(scenarios,
			scenario{"postgres", pg.Middleware()(hello), pgKeys},
			scenario{"pg-feed", withFeed.Middleware()(hello), pgKeys})
	}
	return scenarios, cleanup, nil
}

func issue(ctx context.Context, m *apikey.Manager, n int) ([]string, error) {
	keys := make([]string, n)
	for i := range keys {
		plain, _, err := m.Create(ctx, apikey.NewKey{Owner: "load"})
		if err != nil {
			return nil, err
		}
		keys[i] = plain
	}
	return keys, nil
}

// drive serves s on a fresh loopback listener and runs the clients against
// it until the duration or the request budget is spent.
func drive(ctx context.Context, cfg config, s scenario) (result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	transport := &http.Transport{MaxIdleConnsPerHost: cfg.clients, MaxConnsPerHost: cfg.clients}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var budget atomic.Int64
	budget.Store(int64(cfg.maxRequests))
	latencies := make([][]time.Duration, cfg.clients)
	statuses := make([]map[int]int, cfg.clients)
	errs := make([]error, cfg.clients)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range cfg.clients {
		statuses[c] = map[int]int{}
		wg.Go(func() {
			for ctx.Err() == nil {
				// One sequence shared by every client, so the mix of keys
				// is exactly the scenario's (9 valid, 1 invalid, ...).
				left := budget.Add(-1)
				if left < 0 {
					return
				}
				i := int64(cfg.maxRequests) - 1 - left
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("X-API-Key", s.keys[i%int64(len(s.keys))])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
						errs[c] = err
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				latencies[c] = append(latencies[c], time.Since(t0))
				statuses[c][resp.StatusCode]++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return result{}, err
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	res := result{name: s.name, requests: len(all), statuses: map[int]int{}}
	for _, st := range statuses {
		for code, n := range st {
			res.statuses[code] += n
		}
	}
	if len(all) == 0 {
		return res, errors.New("no request completed")
	}
	res.perSecond = float64(len(all)) / elapsed.Seconds()
	res.p50 = all[len(all)/2]
	res.p99 = all[len(all)*99/100]
	return res, nil
}

func report(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\treq/s\tvs none\tp50\tp99\tstatuses\t")
	for _, r := range results {
		loss := "—"
		if r.name != "none" {
			loss = fmt.Sprintf("%+.1f%%", r.vsNone*100)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%v\t%v\t%v\t\n", r.name, r.requests, r.perSecond, loss,
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.statuses)
	}
	tw.Flush()
}
