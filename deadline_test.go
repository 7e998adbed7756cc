package apikey_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangingStore never answers FindByDigest until the caller gives up.
type hangingStore struct{ *apikey.MemoryStore }

func (hangingStore) FindByDigest(ctx context.Context, _ []byte) (apikey.Key, error) {
	<-ctx.Done()
	return apikey.Key{}, ctx.Err()
}

// A store slower than the request's deadline: the middleware honours the
// deadline, answers 503, and leaves no goroutine behind.
func TestSlowStoreHonoursDeadline(t *testing.T) {
	m := newManager(t, hangingStore{apikey.NewMemoryStore()})
	plain, _ := mustCreate(t, newManager(t, apikey.NewMemoryStore()), apikey.NewKey{})
	// A deadline on the request context, as a server's own timeout
	// middleware sets it: the 503 must come from the API key middleware.
	withDeadline := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 200*time.Millisecond)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	srv := httptest.NewServer(withDeadline(m.Middleware()(whoami)))
	defer srv.Close()
	base := runtime.NumGoroutine()

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			req.Header.Set("X-API-Key", plain)
			resp, err := srv.Client().Do(req)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			assert.JSONEq(t, `{"code":-1,"msg":"Service unavailable"}`, string(body))
		})
	}
	wg.Wait()

	// Direct calls with a deadline get ErrStoreUnavailable, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Verify(ctx, plain)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), time.Second)

	srv.Client().CloseIdleConnections()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= base+2 }, 5*time.Second, 20*time.Millisecond,
		"goroutines left behind: %d, was %d", runtime.NumGoroutine(), base)
}
