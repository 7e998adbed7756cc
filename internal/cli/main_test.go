package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/go-apikey/apikey/internal/testkit"
)

// asMain, in the environment of a copy of the test binary, makes it run as
// the apikey command itself, with the JSON array it holds as arguments and
// its real stdout and stderr: some output goes past Run's writers (the
// Redis client logs to os.Stderr), and only a process shows it.
const asMain = "APIKEY_CLI_TEST_AS_MAIN"

// TestMain runs the command when asMain says so. Otherwise it points the
// user config directory, where serve writes a new admin key by default, at
// a temporary one, so no test leaves a key file in the real one, and
// fails the run if a test left one there. testkit.Run says which tests
// skipped for want of a server.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(asMain); ok {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Run(ctx, argv, os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "apikey-cli-config-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Setenv("HOME", dir)
	code := testkit.Run(m)
	if left, _ := filepath.Glob(filepath.Join(dir, "apikey", "admin-key-*")); len(left) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests left %d admin key files in the default key directory\n", len(left))
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// process returns the apikey command as a process of its own, run with
// args and a clean environment but for the config directory TestMain set
// and env ("NAME=value").
func process(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	argv, err := json.Marshal(args)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append([]string{asMain + "=" + string(argv),
		"XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME"), "HOME=" + os.Getenv("HOME")}, env...)
	return cmd
}

// runProcess runs the command as a process of its own, its stdout and
// stderr pipes, and returns what it wrote.
func runProcess(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := process(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// TestProcessHarness: the process runs the command, as the program would.
func TestProcessHarness(t *testing.T) {
	db := filepath.Join(t.TempDir(), "keys.db")
	r := runProcess(t, nil, "list", "--db", db)
	require.Equal(t, ExitFailed, r.code, r.stderr)
	require.Equal(t, "apikey list: no table api_keys in "+db+" (no such file); run apikey migrate\n", r.stderr)
	r = runProcess(t, []string{"APIKEY_DB=" + db}, "create", "--owner", "alice")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.FileExists(t, db, "the environment reached the command")
}
