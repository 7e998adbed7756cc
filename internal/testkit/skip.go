package testkit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Environment variables naming the servers the suites need. Unset, the
// tests that need one skip, and Main says so; set, a server that does not
// answer fails them.
const (
	EnvPostgres = "APIKEY_POSTGRES_DSN"
	EnvMySQL    = "APIKEY_MYSQL_DSN"
	EnvRedis    = "APIKEY_REDIS_ADDR"
)

// Servers the environment variables name, as the skip summary says them.
var servers = map[string]string{
	EnvPostgres: "PostgreSQL",
	EnvMySQL:    "MySQL or MariaDB",
	EnvRedis:    "Redis",
}

// Need returns the value of the environment variable env (EnvPostgres,
// EnvMySQL, EnvRedis), which names a server the test needs. When it is
// unset, Need skips t, and Main ends the run with one line saying how
// many tests that server's absence skipped and that env runs them.
func Need(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		what := servers[env]
		if what == "" {
			what = "a server"
		}
		SkipFor(t, what, "set "+env)
	}
	return v
}

// skips counts the tests skipped for each thing the environment lacks.
var (
	skipsMu sync.Mutex
	skips   = map[skipReason]int{}
)

type skipReason struct{ what, remedy string }

// SkipFor skips t because the environment lacks what it needs (what:
// "PostgreSQL", "Chromium"), which remedy provides ("set
// APIKEY_POSTGRES_DSN"), and counts it for the line Main prints after the
// run.
func SkipFor(t testing.TB, what, remedy string) {
	t.Helper()
	skipsMu.Lock()
	skips[skipReason{what, remedy}]++
	skipsMu.Unlock()
	t.Skipf("needs %s: %s to run it", what, remedy)
}

// skipLines returns one line per reason tests of the package pkg skipped,
// in a stable order.
func skipLines(pkg string) []string {
	skipsMu.Lock()
	defer skipsMu.Unlock()
	var lines []string
	for r, n := range skips {
		tests, them := "tests need", "them"
		if n == 1 {
			tests, them = "test needs", "it"
		}
		lines = append(lines, fmt.Sprintf("skip\t%s\t%d %s %s: %s to run %s\n", pkg, n, tests, r.what, r.remedy, them))
	}
	slices.Sort(lines)
	return lines
}

// testedPackage returns the import path of the package under test, or its
// directory when the binary does not know it.
func testedPackage() string {
	bi, _ := debug.ReadBuildInfo()
	dir, _ := os.Getwd()
	return packagePath(bi, dir)
}

// packagePath reads the tested package from a test binary's build
// information: its path is the package's with ".test" added, but for a
// command's (package main), whose path is the package's own.
func packagePath(bi *debug.BuildInfo, dir string) string {
	if bi != nil && bi.Path != "" {
		return strings.TrimSuffix(bi.Path, ".test")
	}
	return filepath.Base(dir)
}

// reportSkips prints lines, the skip summary, where a person running the
// tests sees it. They always go to stdout: go test shows it with -v or
// -json, when run without package arguments, and for a failing package.
// But "go test ./..." or "go test work" keeps only the "ok" line of a
// passing package, whose output it reads through a pipe; so then, when
// the run passed and is not verbose, the lines go to the terminal too
// (tty), if there is one. A run without a terminal (CI) shows them with
// -v.
func reportSkips(lines []string, stdout io.Writer, stdoutIsPipe, verbose, passed bool, tty func() (io.WriteCloser, error)) {
	if len(lines) == 0 {
		return
	}
	text := strings.Join(lines, "")
	fmt.Fprint(stdout, text)
	if !stdoutIsPipe || verbose || !passed {
		return
	}
	w, err := tty()
	if err != nil {
		return // no terminal: nobody to tell but the log, which has it
	}
	fmt.Fprint(w, text)
	w.Close()
}

// openTTY opens the terminal the tests were started from; testkit's own
// tests replace it.
var openTTY = func() (io.WriteCloser, error) {
	return os.OpenFile("/dev/tty", os.O_WRONLY, 0)
}

// isPipe reports whether f is a pipe, as the go command gives a test binary
// whose output it keeps for itself.
func isPipe(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}
