package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun runs every scenario briefly and checks that the load reached the
// server and got the answers each scenario must give.
func TestRun(t *testing.T) {
	cfg := config{duration: 300 * time.Millisecond, clients: 4, maxRequests: 2000, rounds: 1, postgres: os.Getenv("APIKEY_POSTGRES_DSN")}
	results, err := run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := 3
	if cfg.postgres != "" {
		want = 5
	}
	if len(results) != want {
		t.Fatalf("%d results, want %d", len(results), want)
	}
	for _, r := range results {
		if r.requests == 0 || r.perSecond <= 0 || r.p50 <= 0 || r.p99 < r.p50 {
			t.Errorf("%s: implausible result %+v", r.name, r)
		}
		ok, refused := r.statuses[http.StatusOK], r.statuses[http.StatusUnauthorized]
		switch r.name {
		case "mix":
			if refused == 0 || ok < 8*refused || ok > 10*refused {
				t.Errorf("mix: %d ok, %d refused: want about 9 to 1", ok, refused)
			}
		default:
			if refused != 0 || ok != r.requests {
				t.Errorf("%s: statuses %v", r.name, r.statuses)
			}
		}
	}
	var out strings.Builder
	report(&out, results)
	if !strings.Contains(out.String(), "vs none") || !strings.Contains(out.String(), "memory") {
		t.Errorf("report:\n%s", out.String())
	}
}
