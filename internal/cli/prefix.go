package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-apikey/apikey"
)

// prefixScanKeys bounds how many keys prefixWarning reads, so a create on
// a table of millions stays one or a few queries: the prefixes a table
// uses show in its first pages.
var prefixScanKeys = 10 * apikey.MaxListLimit

// prefixWarning returns a warning for keys to be made with prefix in the
// table m manages, or "" when there is none to give. A service refuses a
// key whose prefix it was not configured with (apikey.WithPrefix,
// WithAcceptedPrefixes), and the command cannot know that configuration,
// but the table shows it: the rule is to warn when no unexpired key among
// the first prefixScanKeys has prefix, and either some have others (the
// services accept those) or none has any and prefix is not the default
// (which a service accepts unconfigured).
func prefixWarning(ctx context.Context, m *apikey.Manager, table, prefix string) (string, error) {
	used, err := prefixesInUse(ctx, m)
	if err != nil {
		return "", err
	}
	switch {
	case slices.Contains(used, prefix):
		return "", nil
	case len(used) > 0:
		return fmt.Sprintf("apikey: warning: no key in table %s has prefix %q; its keys have %s. A service accepts only "+
			"the prefixes it is configured with (apikey.WithPrefix, WithAcceptedPrefixes): check that yours accepts %q, "+
			"or give --prefix %s\n", table, prefix, quoteAll(used), prefix, used[0]), nil
	case prefix != apikey.DefaultPrefix:
		return fmt.Sprintf("apikey: warning: no key in table %s has prefix %q yet, and it is not the default (%q): "+
			"a service accepts it only when configured with apikey.WithPrefix(%q) or WithAcceptedPrefixes(%q)\n",
			table, prefix, apikey.DefaultPrefix, prefix, prefix), nil
	}
	return "", nil
}

// prefixesInUse returns the prefixes of the unexpired keys among the
// first prefixScanKeys of the table, most used first. Expired keys do not
// count: a service may have retired their prefix.
func prefixesInUse(ctx context.Context, m *apikey.Manager) ([]string, error) {
	now := time.Now()
	counts := map[string]int{}
	opts := apikey.ListOptions{Limit: min(prefixScanKeys, apikey.MaxListLimit)}
	for read := 0; read < prefixScanKeys; {
		page, err := m.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			if p := k.Prefix(); p != "" && !k.Expired(now) {
				counts[p]++
			}
		}
		read += len(page.Keys)
		if page.Next == "" {
			break
		}
		opts.After = page.Next
	}
	used := make([]string, 0, len(counts))
	for p := range counts {
		used = append(used, p)
	}
	slices.SortFunc(used, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	return used, nil
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// warnPrefix prints prefixWarning's warning, if any, to stderr.
func (e *env) warnPrefix(ctx context.Context, m *apikey.Manager, o *options, prefix string) error {
	w, err := prefixWarning(ctx, m, o.table, prefix)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stderr, w)
	return nil
}
