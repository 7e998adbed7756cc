package pollfeed

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tracker reports each entry once, whatever order entries appear in,
// and reads gaps again until they fill or time out.
func TestTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := &tracker{wm: 10, max: 10}
	for _, s := range []int64{11, 12, 15, 17} {
		require.True(t, tr.add(s, t0), "entry %d is new", s)
	}
	tr.settle(t0, time.Minute)
	require.Equal(t, int64(12), tr.wm, "13 and 14 are missing: read again from 13")
	require.Equal(t, []gap{{13, 14, t0}, {16, 16, t0}}, tr.gaps)

	// The next poll reads 15 and 17 again: not new. 14 commits late.
	t1 := t0.Add(10 * time.Second)
	require.False(t, tr.add(15, t1))
	require.False(t, tr.add(17, t1))
	require.False(t, tr.add(9, t1), "below the watermark")
	require.True(t, tr.add(14, t1), "a late commit in a gap is new")
	require.False(t, tr.add(14, t1), "once")
	require.True(t, tr.add(18, t1))
	tr.settle(t1, time.Minute)
	require.Equal(t, int64(12), tr.wm)
	require.Equal(t, []gap{{13, 13, t0}, {16, 16, t0}}, tr.gaps, "the gap keeps its age when split")

	require.True(t, tr.add(16, t1))
	tr.settle(t1, time.Minute)
	require.Equal(t, []gap{{13, 13, t0}}, tr.gaps)

	// 13 never comes (a rolled-back transaction): given up after the
	// timeout, counted from when it was first seen missing.
	tr.settle(t0.Add(time.Minute-time.Nanosecond), time.Minute)
	require.Equal(t, int64(12), tr.wm)
	tr.settle(t0.Add(time.Minute), time.Minute)
	require.Empty(t, tr.gaps)
	require.Equal(t, int64(18), tr.wm)
	require.Equal(t, int64(18), tr.max)
}
