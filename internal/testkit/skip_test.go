package testkit

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// skipDemo, in the environment of a copy of this test binary, makes
// TestSkipDemo skip as a test without a server does ("pass") or fail
// after skipping ("fail"); skipDemoTTY names the file that stands for the
// terminal there.
const (
	skipDemo    = "TESTKIT_SKIP_DEMO"
	skipDemoTTY = "TESTKIT_SKIP_DEMO_TTY"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(skipDemoTTY); path != "" {
		openTTY = func() (io.WriteCloser, error) { return os.Create(path) }
	}
	Main(m)
}

// TestSkipDemo is run by TestSkipSummary, in a process of its own.
func TestSkipDemo(t *testing.T) {
	mode := os.Getenv(skipDemo)
	if mode == "" {
		t.Skip("run by TestSkipSummary")
	}
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) { Need(t, EnvPostgres) })
	}
	t.Run("redis", func(t *testing.T) { Need(t, EnvRedis) })
	t.Run("browser", func(t *testing.T) { SkipFor(t, "Chromium", "apt-get install chromium") })
	if mode == "fail" {
		t.Error("failing on purpose")
	}
}

// A test binary whose tests skipped for want of a server ends with one
// line per server. go test keeps a passing package's output to itself, so
// the lines go to the terminal too, unless go test will show them anyway
// (-v, a failure).
func TestSkipSummary(t *testing.T) {
	const pkg = "github.com/go-apikey/apikey/internal/testkit"
	want := "skip\t" + pkg + "\t1 test needs Chromium: apt-get install chromium to run it\n" +
		"skip\t" + pkg + "\t1 test needs Redis: set APIKEY_REDIS_ADDR to run it\n" +
		"skip\t" + pkg + "\t2 tests need PostgreSQL: set APIKEY_POSTGRES_DSN to run them\n"
	run := func(mode string, args ...string) (stdout, tty string) {
		t.Helper()
		ttyFile := filepath.Join(t.TempDir(), "tty")
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestSkipDemo$"}, args...)...)
		cmd.Env = []string{skipDemo + "=" + mode, skipDemoTTY + "=" + ttyFile} // no APIKEY_* variables
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out // a pipe, as go test gives
		err := cmd.Run()
		if mode == "fail" {
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "%v\n%s", err, out.String())
		} else {
			require.NoError(t, err, out.String())
		}
		b, err := os.ReadFile(ttyFile)
		if !errors.Is(err, os.ErrNotExist) {
			require.NoError(t, err)
		}
		return out.String(), string(b)
	}

	stdout, tty := run("pass")
	assert.True(t, strings.HasSuffix(stdout, "PASS\n"+want), stdout)
	assert.Equal(t, want, tty, "a passing, quiet run tells the terminal")

	stdout, tty = run("pass", "-test.v")
	assert.Contains(t, stdout, want)
	assert.Empty(t, tty, "-v shows stdout: once is enough")

	stdout, tty = run("fail")
	assert.Contains(t, stdout, want)
	assert.Empty(t, tty, "a failing package's output is shown")
}

func TestReportSkips(t *testing.T) {
	lines := []string{"skip\tp\t1 test needs PostgreSQL: set APIKEY_POSTGRES_DSN to run it\n"}
	for _, tt := range []struct {
		name                  string
		pipe, verbose, passed bool
		lines                 []string
		wantStdout, wantOnTTY bool
	}{
		{"go test ./..., passing", true, false, true, lines, true, true},
		{"go test -v ./...", true, true, true, lines, true, false},
		{"go test ./..., failing", true, false, false, lines, true, false},
		{"go test in the package's directory", false, false, true, lines, true, false},
		{"nothing skipped", true, false, true, nil, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, tty bytes.Buffer
			reportSkips(tt.lines, &stdout, tt.pipe, tt.verbose, tt.passed, func() (io.WriteCloser, error) {
				return nopCloser{&tty}, nil
			})
			assert.Equal(t, tt.wantStdout, stdout.Len() > 0)
			assert.Equal(t, tt.wantOnTTY, tty.Len() > 0)
		})
	}
	var stdout bytes.Buffer
	reportSkips(lines, &stdout, true, false, true, func() (io.WriteCloser, error) { return nil, errors.New("no terminal") })
	assert.Equal(t, lines[0], stdout.String(), "without a terminal, stdout still has it")
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func TestPackagePath(t *testing.T) {
	assert.Equal(t, "example.com/m/pkg", packagePath(&debug.BuildInfo{Path: "example.com/m/pkg.test"}, "/src/pkg"))
	assert.Equal(t, "example.com/m/cmd", packagePath(&debug.BuildInfo{Path: "example.com/m/cmd"}, "/src/cmd"), "package main")
	assert.Equal(t, "pkg", packagePath(nil, "/src/pkg"))
}
