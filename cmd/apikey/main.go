// Command apikey creates, lists, shows, updates, disables, enables, rotates
// and revokes API keys in the SQL table a service's apikey.SQLStore reads.
//
//	go run ./cmd/apikey create --owner alice --name ci --scope bots:read
//	go run ./cmd/apikey list
//	go run ./cmd/apikey help
//
// The database is --db, else $APIKEY_DB, else the SQLite file ./apikey.db.
// Run "apikey help" for every command and flag.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-apikey/apikey/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is the whole command, minus the process: tests call it with their
// own arguments, output and environment.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return cli.Run(ctx, args, stdout, stderr, getenv)
}
