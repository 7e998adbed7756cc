package admin_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Review finding 9: allowed_ips go through the Manager's one reading of
// ranges. An IPv4-mapped range is stored, shown and matched as the IPv4
// range it names; one shorter than /96 names none and is refused.
func TestMappedAllowedIPs(t *testing.T) {
	const mapped = `["::ffff:192.0.2.0/120","::ffff:198.51.100.9"]`
	const ipv4 = "[192.0.2.0/24 198.51.100.9/32]"
	works := func(t *testing.T, e *env, id string) {
		k, err := e.Keys.Get(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, ipv4, fmt.Sprint(k.AllowedIPs), "stored in the IPv4 form")
	}
	run(t, []tcase{
		{name: "create", method: "POST", path: "/admin/keys", as: "admin", status: 201, body: `{"allowed_ips":` + mapped + `}`,
			check: func(t *testing.T, e *env, _ *fixture, r response) {
				var s secretBody
				r.JSON(t, &s)
				assert.Equal(t, []string{"192.0.2.0/24", "198.51.100.9/32"}, s.Key.AllowedIPs)
				works(t, e, s.Key.ID)
				_, err := e.Keys.VerifyFrom(context.Background(), s.Plaintext, netip.MustParseAddr("192.0.2.7"))
				assert.NoError(t, err, "the IPv4 client the range names")
			}},
		{name: "patch", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 200, body: `{"allowed_ips":` + mapped + `}`,
			check: func(t *testing.T, e *env, f *fixture, r response) {
				var k keyBody
				r.JSON(t, &k)
				assert.Equal(t, []string{"192.0.2.0/24", "198.51.100.9/32"}, k.AllowedIPs)
				works(t, e, f.aliceCI)
			}},
		{name: "create, mapped range shorter than /96", method: "POST", path: "/admin/keys", as: "admin", status: 400,
			body: `{"allowed_ips":["::ffff:192.0.2.0/95"]}`, msg: "allowed_ips: \"::ffff:192.0.2.0/95\": IP range ::ffff:192.0.2.0/95 is IPv4-mapped but shorter than /96"},
		{name: "patch, mapped range shorter than /96", method: "PATCH", path: "/admin/keys/{aliceCI}", as: "admin", status: 400,
			body: `{"allowed_ips":["::ffff:192.0.2.0/95"]}`, msg: "is IPv4-mapped but shorter than /96"},
	})
}
