package serving

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Serve returns only after the request under way at shutdown is answered.
func TestServeWaitsForRequestsUnderWay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	inHandler, release := make(chan struct{}), make(chan struct{})
	var answered bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		answered = true
		io.WriteString(w, "done")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error, 1)
	go func() { returned <- Serve(ctx, srv, ln) }()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-inHandler
	cancel()
	select {
	case err := <-returned:
		t.Fatalf("Serve returned (%v) while a request was under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-returned)
	assert.True(t, answered)
	assert.Equal(t, "done", <-got)
}

// A server that cannot serve reports why.
func TestServeFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln.Close()
	err = Serve(context.Background(), &http.Server{}, ln)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "closed"), err.Error())
}
