package apikeytest_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-apikey/apikey"
)

// sliceStore is a Store written outside this module, with nothing but the
// public API: keys in a slice, every lookup a scan. (A real store must
// find by digest with one indexed lookup; this one is small on purpose.)
type sliceStore struct {
	mu   sync.Mutex
	keys []apikey.Key
}

func (s *sliceStore) find(match func(*apikey.Key) bool) int {
	return slices.IndexFunc(s.keys, func(k apikey.Key) bool { return match(&k) })
}

func (s *sliceStore) Create(_ context.Context, k apikey.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.find(func(o *apikey.Key) bool { return o.ID == k.ID || bytes.Equal(o.Digest, k.Digest) }) >= 0 {
		return fmt.Errorf("%w: %s", apikey.ErrDuplicate, k.ID)
	}
	s.keys = append(s.keys, k.Clone())
	return nil
}

func (s *sliceStore) get(match func(*apikey.Key) bool) (apikey.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.find(match); i >= 0 {
		return s.keys[i].Clone(), nil
	}
	return apikey.Key{}, apikey.ErrNotFound
}

func (s *sliceStore) Get(_ context.Context, id string) (apikey.Key, error) {
	return s.get(func(k *apikey.Key) bool { return k.ID == id })
}

func (s *sliceStore) FindByDigest(_ context.Context, digest []byte) (apikey.Key, error) {
	return s.get(func(k *apikey.Key) bool { return bytes.Equal(k.Digest, digest) })
}

func (s *sliceStore) List(_ context.Context, opts apikey.ListOptions) ([]apikey.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []apikey.Key
	for _, k := range s.keys {
		after := k.ID > opts.After
		if opts.Descending {
			after = opts.After == "" || k.ID < opts.After
		}
		if after && (opts.Owner == "" || k.Owner == opts.Owner) {
			out = append(out, k.Clone())
		}
	}
	slices.SortFunc(out, func(a, b apikey.Key) int { return strings.Compare(a.ID, b.ID) })
	if opts.Descending {
		slices.Reverse(out)
	}
	return out[:min(len(out), max(opts.Limit, 0))], nil
}

func (s *sliceStore) Update(_ context.Context, id string, fn func(*apikey.Key) error) (apikey.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(func(k *apikey.Key) bool { return k.ID == id })
	if i < 0 {
		return apikey.Key{}, apikey.ErrNotFound
	}
	changed := s.keys[i].Clone()
	if err := fn(&changed); err != nil {
		return apikey.Key{}, err
	}
	s.keys[i] = s.keys[i].Updated(changed) // only the fields Update stores
	return s.keys[i].Clone(), nil
}

func (s *sliceStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(func(k *apikey.Key) bool { return k.ID == id })
	if i < 0 {
		return apikey.ErrNotFound
	}
	s.keys = slices.Delete(s.keys, i, i+1)
	return nil
}

func (s *sliceStore) RecordLastUsed(_ context.Context, used map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if t, ok := used[s.keys[i].ID]; ok && s.keys[i].LastUsedAt.Before(t) {
			s.keys[i].LastUsedAt = t
		}
	}
	return nil
}

// A store of your own runs the conformance suite from its tests, as
// TestSliceStore in this package does for sliceStore:
//
//	func TestSliceStore(t *testing.T) {
//		apikeytest.TestStore(t, func(*testing.T) apikey.Store { return &sliceStore{} })
//	}
//
// A store that does not implement apikey.UsageStore skips the subtests
// about usage-limited keys, and the Manager refuses such keys.
func Example() {
	var s apikey.Store = &sliceStore{}
	_, counts := s.(apikey.UsageStore)
	fmt.Println("counts uses:", counts)
	// Output: counts uses: false
}
