package adminweb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seeded are the keys of a database in daily use: 52 service keys, then
// a few of every state, the last of them made last.
type seeded struct {
	ids    map[string]string // name -> ID
	plains map[string]string // name -> plaintext
	newest string            // the name of the key made last
}

func seed(t *testing.T, e *env) *seeded {
	t.Helper()
	ctx := context.Background()
	s := &seeded{ids: map[string]string{}, plains: map[string]string{}}
	add := func(nk apikey.NewKey) string {
		plain, id := e.Create(nk)
		s.ids[nk.Name], s.plains[nk.Name] = id, plain
		s.newest = nk.Name
		return id
	}
	owners := []string{"team", "platform", "acme-corp", "bob"}
	for i := range 52 {
		add(apikey.NewKey{Owner: owners[i%len(owners)], Name: fmt.Sprintf("service %d", i+1), Scopes: []string{"bots:read"}})
	}
	add(apikey.NewKey{Owner: "bob", Name: "old laptop", Scopes: []string{"reports:read"}})
	_, err := e.Keys.Disable(ctx, s.ids["old laptop"])
	require.NoError(t, err)
	add(apikey.NewKey{Owner: "carol", Name: "trial", MaxUses: 1})
	_, err = e.Keys.Update(ctx, s.ids["trial"], apikey.SetRemainingUses(0))
	require.NoError(t, err)
	add(apikey.NewKey{Owner: "dave", Name: "q3 report", Scopes: []string{"reports:read"}})
	_, err = e.Keys.Update(ctx, s.ids["q3 report"], apikey.SetExpiry(time.Now().Add(-time.Hour)))
	require.NoError(t, err)
	add(apikey.NewKey{Owner: "erin", Name: "metered", MaxUses: 5, Refill: &apikey.Refill{Amount: 5, Interval: apikey.RefillDaily}})
	require.Equal(t, 200, e.Do("GET", "/", s.plains["metered"], "").Status) // 4 uses left
	add(apikey.NewKey{Owner: "partner-integrations-eu-west", Name: "nightly export to the data warehouse of our largest partner, with retries",
		Scopes: []string{"orders:read", "reports:read"}, ExpiresAt: time.Now().Add(30 * 24 * time.Hour)})
	add(apikey.NewKey{Owner: "acme-corp", Name: "partner backend", Description: "orders sync", Scopes: []string{"orders:read"}})
	require.Equal(t, 200, e.Do("GET", "/", s.plains["partner backend"], "").Status) // so it has a last use
	add(apikey.NewKey{Owner: "alice", Name: "deploy bot", Scopes: []string{"bots:read", "bots:write"}, ExpiresAt: time.Now().Add(90 * 24 * time.Hour)})
	require.NoError(t, e.Keys.Flush(ctx))
	return s
}

// rowNames returns the names the list shows, in order.
func (b *browser) rowNames() []string {
	b.t.Helper()
	return jsValue[[]string](b, `[...document.querySelectorAll("#rows tr a.key-link")].map(a => a.textContent)`)
}

func (b *browser) rowCount() int { return b.count("#rows tr") }

// rowsStart waits until the list's first rows are names.
func rowsStart(names ...string) chromedp.Action[chromedp.Void] {
	want, _ := json.Marshal(names)
	return until(`JSON.stringify([...document.querySelectorAll("#rows tr a.key-link")].slice(0, ` + fmt.Sprint(len(names)) + `).map(a => a.textContent)) === ` + js(string(want)))
}

// rowsAre waits until the list's rows are names exactly.
func rowsAre(names ...string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(rowsStart(names...), until(`document.querySelectorAll("#rows tr").length === `+fmt.Sprint(len(names))))
}

// TestBrowserList: finding a key among many, and the list keeping its
// place. Newest first, 50 a page; search as you type over name, owner,
// ID and start; "no keys match" with a way out; sorting; an action on
// the second page leaves the list where it was and names what it did;
// a key deleted elsewhere leaves the list with a notice; every row
// button names its key; a compact list on a phone.
func TestBrowserList(t *testing.T) {
	e := newEnv(t)
	s := seed(t, e)
	total := len(s.ids)
	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/", adminKey)
	b.do("the list", chromedp.WaitVisible(chromedp.CSS("#rows tr")))
	assert.Equal(t, "search", b.focused(), "unlocking puts the focus on the search")
	assert.Equal(t, 50, b.rowCount(), "50 a page")
	names := b.rowNames()
	assert.Equal(t, s.newest, names[0], "newest first")
	assert.Equal(t, "partner backend", names[1])
	assert.False(t, jsValue[bool](b, `document.getElementById("more").hidden`), "a next page")

	// Every row button names its key, so a screen reader's list of
	// buttons is not fifty "Disable"s.
	labels := jsValue[[]string](b, `[...document.querySelectorAll("#rows button")].map(b => b.getAttribute("aria-label") || "")`)
	require.NotEmpty(t, labels)
	named := regexp.MustCompile(`^(Edit|Disable|Enable|Rotate|Delete) "[^"]+" \(ak_[0-9A-Za-z]{4}…\)$`)
	for _, l := range labels {
		assert.Regexp(t, named, l)
	}
	assert.Contains(t, labels, `Disable "deploy bot" (`+start(t, e, s.ids["deploy bot"])+`…)`)
	b.axe("the list at 1280 px")
	b.shoot("admin-list-1280.png")

	// Search as you type: no Enter, any part of the owner.
	b.do("type a search", chromedp.SendKeys(chromedp.ID("search"), "ACME"), rowsAre("partner backend", "service 51", "service 47",
		"service 43", "service 39", "service 35", "service 31", "service 27", "service 23", "service 19", "service 15", "service 11", "service 7", "service 3"))
	// By the key's start, and by a piece of its ID.
	deploy := start(t, e, s.ids["deploy bot"])
	b.do("search by start", fill("#search", deploy), rowsAre("deploy bot"))
	b.do("search by ID", fill("#search", strings.ToLower(s.ids["trial"][14:])), rowsAre("trial"))

	b.do("search for what no key has", fill("#search", "team-b"), until(`!document.getElementById("empty").hidden`))
	assert.Equal(t, `No keys match "team-b".`, b.text("#empty-text"), "not the words of an empty database")
	assert.True(t, jsValue[bool](b, `document.getElementById("keys").hidden`))
	b.do("clear it", chromedp.Click(chromedp.ID("clear-filters")), until(`document.querySelectorAll("#rows tr").length === 50`))
	assert.Equal(t, "search", b.focused())
	assert.Empty(t, jsValue[string](b, `document.getElementById("search").value`))

	// A key pasted into the search is never sent: a search is a URL.
	b.do("paste a key into the search", setValue("#search", s.plains["deploy bot"]),
		until(`!document.getElementById("search-error").hidden`))
	assert.Contains(t, b.text("#search-error"), "looks like an API key, so it was not sent")
	assert.Empty(t, jsValue[string](b, `document.getElementById("search").value`), "and it leaves the field")
	secret := s.plains["deploy bot"][3:23]
	time.Sleep(400 * time.Millisecond) // longer than the search waits for typing to pause
	for _, x := range e.Seen() {
		assert.NotContains(t, x.Query, secret, "%s %s", x.Method, x.Path)
	}

	// Sorting, and the state filter.
	b.do("sort by name", choose("#sort", "name:asc"), rowsStart("deploy bot", "metered",
		"nightly export to the data warehouse of our largest partner, with retries",
		"old laptop", "partner backend", "q3 report", "service 1", "service 10"))
	b.do("disabled keys only", choose("#filter-state", "disabled"), rowsAre("old laptop"))
	b.do("recently used first, every state", choose("#filter-state", ""), choose("#sort", "last_used:desc"),
		rowsStart("partner backend", "metered"), until(`document.querySelectorAll("#rows tr").length === 50`))
	b.do("newest first again", choose("#sort", "created:desc"), rowsStart("deploy bot", "partner backend", "nightly export to the data warehouse of our largest partner, with retries"))

	// The second page, and an action there: the list keeps its rows and
	// its place, and says what happened.
	b.do("load more", chromedp.Click(chromedp.ID("more")), until(fmt.Sprintf(`document.querySelectorAll("#rows tr").length === %d`, total)))
	assert.True(t, jsValue[bool](b, `document.getElementById("more").hidden`))
	assert.Equal(t, "a service 9", b.focused(), "the focus moves to the first key loaded, row 51")
	oldest := rowSel(s.ids["service 1"])
	b.do("scroll to the oldest key", chromedp.ScrollIntoView(chromedp.CSS(oldest)))
	y := jsValue[float64](b, `scrollY`)
	require.Greater(t, y, 1000.0)
	b.do("ask to disable it", chromedp.Click(chromedp.CSS(oldest+` button[data-action=toggle]`)))
	title, body := b.confirmDialog()
	assert.Equal(t, `Disable "service 1" (`+start(t, e, s.ids["service 1"])+`…)?`, title)
	assert.Contains(t, body, "refused until someone enables it again")
	assert.Equal(t, "confirm-cancel", b.focused(), "a destructive question starts on Cancel")
	b.axe("the confirmation dialog")
	b.answer("confirm-cancel")
	k, err := e.Keys.Get(context.Background(), s.ids["service 1"])
	require.NoError(t, err)
	assert.True(t, k.Enabled, "Cancel changes nothing")
	assert.Contains(t, b.focused(), `Disable "service 1"`, "the focus goes back to the button")

	b.do("disable it", chromedp.Click(chromedp.CSS(oldest+` button[data-action=toggle]`)))
	b.confirmDialog()
	b.answer("confirm-ok")
	b.do("the row says so", chromedp.WaitVisible(chromedp.CSS(oldest+` .state-disabled`)))
	assert.Equal(t, total, b.rowCount(), "no jump back to page 1")
	assert.InDelta(t, y, jsValue[float64](b, `scrollY`), 60, "the list stays where it was")
	assert.Contains(t, b.focused(), `Enable "service 1"`, "the focus stays on the row")
	assert.Equal(t, `Disabled "service 1" (`+start(t, e, s.ids["service 1"])+`…).`, b.text("#notice"))
	assert.Equal(t, 401, e.Do("GET", "/", s.plains["service 1"], "").Status)

	// A key deleted elsewhere: its row goes, with a notice.
	require.NoError(t, e.Keys.Revoke(context.Background(), s.ids["service 2"]))
	b.do("act on a key deleted elsewhere",
		chromedp.Click(chromedp.CSS(rowSel(s.ids["service 2"])+` button[data-action=toggle]`)),
		chromedp.WaitNotPresent(chromedp.CSS(rowSel(s.ids["service 2"]))))
	assert.Contains(t, b.text("#notice"), `"service 2" (`)
	assert.Contains(t, b.text("#notice"), "is gone: it was deleted elsewhere")
	assert.True(t, jsValue[bool](b, `document.getElementById("list-error").hidden`), "no bare error line")
	assert.Equal(t, total-1, b.rowCount())

	// A phone: two lines a key, the long name clipped, no sideways
	// scrolling; each row opens the key's page, where its actions are.
	b.do("a phone", chromedp.ScrollIntoView(chromedp.ID("search")), phone())
	l := b.layout()
	assert.Equal(t, 390, l.Width)
	assert.LessOrEqual(t, l.ScrollWidth, l.Width, "no horizontal scrolling")
	assert.Empty(t, l.Overflowing, "elements past an edge")
	require.Len(t, l.Rows, total-1)
	assert.LessOrEqual(t, slices.Max(l.Rows), 64.0, "each key is at most 64 px high")
	assert.LessOrEqual(t, slices.Max(l.Rows)-slices.Min(l.Rows), 1.0, "the long name does not wrap")
	assert.Len(t, l.Hidden, b.count("#rows button"), "row buttons are on the key's page")
	b.axe("the list at 390 px")
	b.shoot("admin-list-390.png")
	b.do("search on the phone", fill("#search", "no such key"), until(`!document.getElementById("empty").hidden`))
	b.shoot("admin-no-match-390.png")
	b.do("clear", chromedp.Click(chromedp.ID("clear-filters")), until(`document.querySelectorAll("#rows tr").length === 50`))
	b.do("tap a key", chromedp.Tap(chromedp.CSS(rowSel(s.ids["metered"])+" td.c-state")),
		until(`location.hash === "#/keys/`+s.ids["metered"]+`"`), chromedp.WaitVisible(chromedp.ID("key-id")))
	assert.Equal(t, s.ids["metered"], b.text("#key-id"))

	// A small laptop or a tablet held sideways: the table, and every
	// row's buttons, fit without scrolling.
	b.do("a tablet", chromedp.Click(chromedp.CSS("a.back")), chromedp.WaitVisible(chromedp.ID("rows")),
		chromedp.EmulateViewport(1024, 768), chromedp.Sleep(100*time.Millisecond))
	l = b.layout()
	assert.Equal(t, l.Width, l.ScrollWidth, "no horizontal scrolling at 1024 px")
	assert.Empty(t, l.Overflowing)
	assert.Empty(t, l.Hidden, "every row button shown at 1024 px")
	b.clean(404) // the key deleted elsewhere
}

// start returns the start of the stored key id.
func start(t *testing.T, e *env, id string) string {
	t.Helper()
	k, err := e.Keys.Get(context.Background(), id)
	require.NoError(t, err)
	return k.Start
}

// TestBrowserChangeKeys: creating a key with every field, changing every
// field the API can change in the edit view (a refusal stays in the view
// beside what was typed), rotating with a chosen grace, and deleting,
// each asked in a dialog that names the key and told in a notice.
func TestBrowserChangeKeys(t *testing.T) {
	e := newEnv(t)
	s := seed(t, e)
	ctx := context.Background()
	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/", adminKey)
	b.do("the list", chromedp.WaitVisible(chromedp.CSS("#rows tr")))

	b.do("create a key with every field",
		chromedp.Click(chromedp.CSS("#create-box summary")),
		fill("#create-name", "browser ci"),
		fill("#create-owner", "alice"),
		fill("#create-scopes", "bots:read, reports:read"),
		choose("#create-expires_at", "2160h"),
		fill("#create-description", "made in the browser"),
		fill("#create-metadata", "team=payments\nenv = prod"),
		fill("#create-rate_limit", "100"),
		choose("#create-rate_limit-window", "1h"),
		fill("#create-allowed_ips", "127.0.0.1 10.0.0.0/8"),
		fill("#create-remaining_uses", "500"),
	)
	b.axe("the create form")
	b.do("send it", chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("secret")))
	plain := jsValue[string](b, `document.getElementById("secret-value").value`)
	require.True(t, strings.HasPrefix(plain, "ak_"), "the page shows the new key, got %q", plain)
	assert.Contains(t, b.text("#secret .warn"), "won't be shown again")
	assert.Equal(t, "secret-value", b.focused())
	b.do("copy it", chromedp.Click(chromedp.ID("copy")), until(`document.getElementById("copy-status").textContent !== ""`))
	assert.Contains(t, b.text("#copy-status"), "Copied")

	made := findByName(t, e, "browser ci")
	assert.Equal(t, "alice", made.Owner)
	assert.Equal(t, []string{"bots:read", "reports:read"}, made.Scopes)
	assert.Equal(t, "made in the browser", made.Description)
	assert.Equal(t, map[string]string{"team": "payments", "env": "prod"}, made.Metadata)
	assert.WithinDuration(t, time.Now().Add(90*24*time.Hour), made.ExpiresAt, time.Minute)
	assert.Equal(t, apikey.RateLimit{Limit: 100, Window: time.Hour}, made.RateLimit)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}, made.AllowedIPs)
	require.NotNil(t, made.RemainingUses)
	assert.Equal(t, int64(500), *made.RemainingUses)
	assert.Equal(t, 200, e.Do("GET", "/", plain, "").Status, "the key from the page works")

	row := rowSel(made.ID)
	b.do("it is the first row, marked new", chromedp.WaitVisible(chromedp.CSS(row+" .new")))
	assert.Equal(t, "browser ci", b.rowNames()[0])
	assert.Equal(t, `Created "browser ci" (`+made.Start+`…) for alice.`, b.text("#notice"))
	assert.Empty(t, jsValue[string](b, `document.getElementById("create-name").value`), "the form is empty again")
	b.shoot("admin-new-key-1280.png")
	b.do("hide the key", chromedp.Click(chromedp.ID("secret-done")), chromedp.WaitNotVisible(chromedp.ID("secret")))

	// The edit view: every field, filled with the key's values.
	b.do("edit it", chromedp.Click(chromedp.CSS(row+` button[data-action=edit]`)), until(`document.getElementById("edit").open`))
	assert.Equal(t, `Edit "browser ci" (`+made.Start+`…)`, b.text("#edit-title"))
	assert.Equal(t, "edit-name", b.focused())
	values := jsValue[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("#edit-fields input, #edit-fields select, #edit-fields textarea")]
		.map(c => [c.id, c.type === "checkbox" ? String(c.checked) : c.value]))`)
	local := made.ExpiresAt.Local().Format("2006-01-02T15:04")
	assert.Equal(t, map[string]string{
		"edit-name": "browser ci", "edit-scopes": "bots:read reports:read", "edit-description": "made in the browser",
		"edit-metadata": "env=prod\nteam=payments", "edit-expires_at": "date", "edit-expires_at-date": local,
		"edit-rate_limit": "100", "edit-rate_limit-window": "1h", "edit-allowed_ips": "127.0.0.1/32 10.0.0.0/8",
		"edit-remaining_uses": "499", "edit-enabled": "true",
		"edit-refill-interval": "", "edit-refill-amount": "", "edit-refill-day": "1", "edit-refill-roll_over": "false",
	}, values)
	b.axe("the edit view")
	b.shoot("admin-edit-1280.png")

	patches := func() int {
		n := 0
		for _, x := range e.Seen() {
			if x.Method == "PATCH" {
				n++
			}
		}
		return n
	}
	before := patches()
	b.do("change every field, one address wrong",
		fill("#edit-name", "browser ci (renamed)"),
		fill("#edit-scopes", "bots:read"),
		choose("#edit-expires_at", ""),
		fill("#edit-description", "changed in the browser"),
		fill("#edit-metadata", "team=platform"),
		fill("#edit-rate_limit", ""),
		fill("#edit-allowed_ips", "127.0.0.1 300.1.1.1"),
		fill("#edit-remaining_uses", "7"),
		chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)),
		until(`!document.getElementById("edit-error").hidden`),
	)
	assert.Contains(t, b.text("#edit-error"), `"300.1.1.1" is not an IP address`)
	assert.True(t, jsValue[bool](b, `document.getElementById("edit").open`), "the view stays open with what was typed")
	assert.Equal(t, "browser ci (renamed)", jsValue[string](b, `document.getElementById("edit-name").value`))
	b.do("correct it and save",
		fill("#edit-allowed_ips", "127.0.0.0/8"),
		chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)),
		until(`!document.getElementById("edit").open`),
	)
	assert.Equal(t, before+2, patches(), "one refused, one saved")
	k, err := e.Keys.Get(ctx, made.ID)
	require.NoError(t, err)
	assert.Equal(t, "browser ci (renamed)", k.Name)
	assert.Equal(t, []string{"bots:read"}, k.Scopes)
	assert.True(t, k.ExpiresAt.IsZero(), "never expires")
	assert.Equal(t, "changed in the browser", k.Description)
	assert.Equal(t, map[string]string{"team": "platform"}, k.Metadata)
	assert.True(t, k.RateLimit.IsZero(), "the server's default")
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, k.AllowedIPs)
	require.NotNil(t, k.RemainingUses)
	assert.Equal(t, int64(7), *k.RemainingUses)
	assert.Equal(t, `Saved "browser ci (renamed)" (`+made.Start+`…): name, scopes, expires at, description, metadata, rate limit, allowed ips, remaining uses.`,
		b.text("#notice"))
	assert.Equal(t, "browser ci (renamed)", b.text(row+" a.key-link"), "the row shows it")
	assert.Contains(t, b.focused(), `Edit "browser ci (renamed)"`, "the focus is back on the row's button")

	before = patches()
	b.do("open and save without a change", chromedp.Click(chromedp.CSS(row+` button[data-action=edit]`)), until(`document.getElementById("edit").open`),
		chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)), until(`!document.getElementById("edit").open`))
	assert.Equal(t, before, patches(), "nothing sent")
	assert.Contains(t, b.text("#notice"), "Nothing changed")

	// Rotate, choosing the grace.
	partner := rowSel(s.ids["partner backend"])
	b.do("rotate the partner key", chromedp.Click(chromedp.CSS(partner+` button[data-action=rotate]`)))
	title, _ := b.confirmDialog()
	assert.Equal(t, `Rotate "partner backend" (`+start(t, e, s.ids["partner backend"])+`…)?`, title)
	assert.Equal(t, "grace", b.focused())
	options := jsValue[[]string](b, `[...document.getElementById("grace").options].map(o => o.value + " " + o.text)`)
	assert.Equal(t, []string{"0s stops at once", "1h keeps working for 1 hour", "24h keeps working for 24 hours",
		"168h keeps working for 7 days", "720h keeps working for 30 days"}, options)
	assert.Equal(t, "24h", jsValue[string](b, `document.getElementById("grace").value`))
	b.do("an hour", choose("#grace", "1h"))
	b.shoot("admin-rotate-1280.png")
	b.answer("confirm-ok")
	// The key is shown first; the rows and the notice follow.
	b.do("the new key", chromedp.WaitVisible(chromedp.ID("secret")), rotatedNotice)
	rotated := jsValue[string](b, `document.getElementById("secret-value").value`)
	old, err := e.Keys.Get(ctx, s.ids["partner backend"])
	require.NoError(t, err)
	require.NotEmpty(t, old.RotatedTo)
	assert.WithinDuration(t, time.Now().Add(time.Hour), old.ExpiresAt, time.Minute, "the grace chosen")
	next, err := e.Keys.Get(ctx, old.RotatedTo)
	require.NoError(t, err)
	assert.Equal(t, 200, e.Do("GET", "/", rotated, "").Status, "the new key works")
	assert.Equal(t, 200, e.Do("GET", "/", s.plains["partner backend"], "").Status, "the old one, for its hour")
	assert.Equal(t, "replaced by "+next.Start+"… until "+old.ExpiresAt.Local().Format("2006-01-02 15:04"),
		b.text(partner+" .successor"), "the old key says what replaced it, until when")
	assert.Equal(t, "replaced", b.text(partner+" .state"), "not plain enabled")
	assert.Equal(t, 0, b.count(partner+` button[data-action=rotate]`), "rotated once")
	assert.Equal(t, "partner backend", b.rowNames()[0], "the new key at the top")
	assert.Contains(t, b.text("#notice"), "the old key keeps working for 1 hour")

	// A usage-limited key: no grace to choose (two live keys would
	// double its uses).
	b.do("rotate the usage-limited key", chromedp.Click(chromedp.ID("secret-done")),
		chromedp.Click(chromedp.CSS(rowSel(s.ids["metered"])+` button[data-action=rotate]`)))
	_, body := b.confirmDialog()
	assert.Contains(t, body, "its remaining uses move to the new key")
	assert.Equal(t, []string{"0s"}, jsValue[[]string](b, `[...document.getElementById("grace").options].map(o => o.value)`))
	b.answer("confirm-ok")
	b.do("the new key", chromedp.WaitVisible(chromedp.ID("secret")), rotatedNotice)
	assert.Equal(t, 401, e.Do("GET", "/", s.plains["metered"], "").Status, "the old one stops at once")
	assert.Equal(t, 200, e.Do("GET", "/", jsValue[string](b, `document.getElementById("secret-value").value`), "").Status)

	// Delete, asked first.
	b.do("delete the renamed key", chromedp.Click(chromedp.ID("secret-done")), chromedp.Click(chromedp.CSS(row+` button[data-action=delete]`)))
	title, body = b.confirmDialog()
	assert.Equal(t, `Delete "browser ci (renamed)" (`+made.Start+`…)?`, title)
	assert.Contains(t, body, "This cannot be undone")
	b.answer("confirm-ok")
	b.do("its row goes", chromedp.WaitNotPresent(chromedp.CSS(row)))
	assert.Equal(t, `Deleted "browser ci (renamed)" (`+made.Start+`…).`, b.text("#notice"))
	_, err = e.Keys.Get(ctx, made.ID)
	assert.ErrorIs(t, err, apikey.ErrNotFound)
	assert.Equal(t, 401, e.Do("GET", "/", plain, "").Status)

	b.do("lock forgets the key", chromedp.Click(chromedp.ID("lock")), chromedp.WaitVisible(chromedp.ID("login-key")), chromedp.WaitNotVisible(chromedp.ID("app")))
	assert.Equal(t, "login-key", b.focused())
	b.clean(400) // the address refused
}

// TestBrowserKeyPage: a key's own page, reached by a link that works
// before unlocking, shows every field, copies the ID, lists its rotation
// chain and the keys it made, shows its usage, and takes the
// actions the list does; on a phone too.
func TestBrowserKeyPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, firstID := e.Create(apikey.NewKey{Owner: "acme-corp", Name: "partner backend", Description: "orders sync",
		Scopes: []string{"orders:read"}, Metadata: map[string]string{"team": "partners"},
		RateLimit: apikey.RateLimit{Limit: 100, Window: time.Minute}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RateLimits: []apikey.RateLimit{{Name: "daily", Limit: 5000, Window: 24 * time.Hour}}})
	require.Equal(t, 200, e.Do("GET", "/", first, "").Status)
	require.NoError(t, e.Keys.Flush(ctx))
	chain := []string{firstID}
	var plains []string
	for range 2 {
		r := e.Do("POST", "/admin/keys/"+chain[len(chain)-1]+"/rotate", adminKey, `{"grace":"1h"}`)
		require.Equal(t, 201, r.Status, r.Body)
		var sec secretBody
		r.JSON(t, &sec)
		chain, plains = append(chain, sec.Key.ID), append(plains, sec.Plaintext)
	}
	r := e.Do("POST", "/admin/keys", plains[0], `{"name":"made by the middle key","scopes":["orders:read"],"rate_limit":{"limit":10,"window":"1m"},"rate_limits":[{"name":"daily","limit":100,"window":"1d"}],"ttl":"30m","allowed_ips":["127.0.0.1"]}`)
	require.Equal(t, 201, r.Status, r.Body)
	middle, err := e.Keys.Get(ctx, chain[1])
	require.NoError(t, err)

	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/#/keys/"+chain[1], adminKey)
	b.do("the key's page, from a link opened before unlocking", chromedp.WaitVisible(chromedp.ID("key-id")), until(`document.querySelectorAll("#key-chain li").length === 3`))
	assert.Equal(t, "key-title", b.focused())
	assert.Equal(t, chain[1], b.text("#key-id"))
	b.do("copy the ID", chromedp.Click(chromedp.ID("copy-id")), until(`document.getElementById("copy-id-status").textContent !== ""`))
	assert.Equal(t, "Copied the ID to the clipboard.", b.text("#copy-id-status"))
	fields := jsValue[[][]string](b, `[...document.querySelectorAll("#key-view > dl div")].map(d => [d.querySelector("dt").textContent, d.querySelector("dd").textContent])`)
	next, err := e.Keys.Get(ctx, chain[2])
	require.NoError(t, err)
	assert.Equal(t, [][]string{
		{"Owner", "acme-corp"}, {"Start", middle.Start + "…"}, {"Description", "orders sync"}, {"Scopes", "orders:read"},
		{"Metadata", "team=partners"}, {"State", "replaced by " + next.Start + "… until " + middle.ExpiresAt.Local().Format("2006-01-02 15:04")},
		{"Created", middle.CreatedAt.Local().Format("2006-01-02 15:04")}, {"Updated", middle.UpdatedAt.Local().Format("2006-01-02 15:04")},
		{"Expires", middle.ExpiresAt.Local().Format("2006-01-02 15:04")}, {"Last used", "never"}, {"Rate limit", "100 a minute"},
		{"Allowed IPs", "127.0.0.0/8"}, {"Made by", "static:admin"}, {"Disabled by", "—"},
	}, fields, "every field")
	assert.Equal(t, [][]string{{"Uses left", "no limit"}, {"Uses spent", "0 in all"}, {"Refill", "none"}, {"Named rate limits", "daily: 5000 a day"}},
		b.usage(), "its usage: no usage limit, its named limit (kept by the rotations)")
	assert.Equal(t, []string{firstID, chain[1], chain[2]},
		jsValue[[]string](b, `[...document.querySelectorAll("#key-chain a")].map(a => a.hash.slice(7))`), "the rotation chain, oldest first")
	assert.Equal(t, "#/keys/"+chain[1], jsValue[string](b, `document.querySelector("#key-chain a[aria-current=page]").hash`))
	made := b.text("#key-made")
	assert.Contains(t, made, "made by the middle key")
	assert.Contains(t, made, "partner backend ("+next.Start+"…)", "and the key it was rotated into")
	b.axe("a key's page at 1280 px")
	b.shoot("admin-key-1280.png")

	// Along the chain, and the actions there.
	b.do("follow the chain to the newest key", chromedp.Click(chromedp.CSS(`#key-chain li:last-child a`)),
		until(`document.getElementById("key-id").textContent === "`+chain[2]+`"`), until(`document.querySelectorAll("#key-chain li").length === 3`))
	assert.Equal(t, "#/keys/"+chain[2], jsValue[string](b, `document.querySelector("#key-chain a[aria-current=page]").hash`))
	b.do("rotate it from its page", chromedp.Click(chromedp.CSS(`#key-view button[data-action=rotate]`)))
	b.confirmDialog()
	b.do("at once", choose("#grace", "0s"))
	b.answer("confirm-ok")
	b.do("the chain grows", chromedp.WaitVisible(chromedp.ID("secret")), until(`document.querySelectorAll("#key-chain li").length === 4`))
	assert.Equal(t, 0, b.count(`#key-view button[data-action=rotate]`))
	assert.Contains(t, b.text("#key-view .state"), "expired", "retired at once")

	b.do("edit it from its page", chromedp.Click(chromedp.ID("secret-done")), chromedp.Click(chromedp.CSS(`#key-view button[data-action=edit]`)),
		until(`document.getElementById("edit").open`), fill("#edit-description", "orders sync, retired"),
		chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)), until(`!document.getElementById("edit").open`))
	b.do("the page shows it", until(`document.querySelector("#key-view dl").textContent.includes("orders sync, retired")`))

	// A phone.
	b.do("back to the newest", chromedp.Click(chromedp.CSS(`#key-chain li:last-child a`)),
		until(`document.querySelectorAll("#key-chain li").length === 4 && document.querySelector("#key-chain li:last-child a[aria-current]") !== null`),
		chromedp.ScrollIntoView(chromedp.ID("key-title")), phone())
	l := b.layout()
	assert.LessOrEqual(t, l.ScrollWidth, l.Width, "no horizontal scrolling")
	assert.Empty(t, l.Overflowing)
	b.axe("a key's page at 390 px")
	b.shoot("admin-key-390.png")
	b.do("disable it from its page", chromedp.Click(chromedp.CSS(`#key-view button[data-action=toggle]`)))
	b.confirmDialog()
	b.axe("a dialog at 390 px")
	b.shoot("admin-dialog-390.png")
	b.answer("confirm-ok")
	b.do("the page says so", until(`document.querySelector("#key-view .state").textContent === "disabled"`))
	assert.Equal(t, "Enable", b.text(`#key-view button[data-action=toggle]`))

	// Gone: deleted here, the list comes back; deleted elsewhere, its
	// page says so.
	b.do("delete it from its page", chromedp.Click(chromedp.CSS(`#key-view button[data-action=delete]`)))
	b.confirmDialog()
	b.answer("confirm-ok")
	b.do("back to the list", until(`location.hash === "#/"`), chromedp.WaitVisible(chromedp.ID("rows")))
	assert.Contains(t, b.text("#notice"), "Deleted")
	require.NoError(t, e.Keys.Revoke(ctx, firstID))
	b.do("open a key deleted elsewhere", chromedp.Evaluate[chromedp.Void](`location.hash = "#/keys/`+firstID+`"`),
		until(`document.getElementById("key-title").textContent === "No such key"`))

	// A key where an ID belongs, in a link: never sent.
	b.do("open a link holding a key", chromedp.Evaluate[chromedp.Void](`location.hash = "#/keys/`+plains[1]+`"`),
		until(`location.hash === "#/"`), chromedp.WaitVisible(chromedp.ID("rows")))
	assert.Contains(t, b.text("#notice"), "looks like an API key, not a key's ID, so it was not sent")
	for _, x := range e.Seen() {
		assert.NotContains(t, x.Path+"?"+x.Query, plains[1][3:23], "%s %s", x.Method, x.Path)
	}
	b.clean(404) // the key deleted elsewhere
}

// TestBrowserOwnKeyAndCascade: signed in with the only admin key, the page
// marks it and offers no way to disable or delete it, nor to set what
// could lock it out, until another admin key exists; disabling a key
// shows the keys it made and disables them with it; rotating the page's
// own key keeps the page signed in.
func TestBrowserOwnKeyAndCascade(t *testing.T) {
	e := newEnvConfig(t, envConfig{NoStatic: true})
	ctx := context.Background()
	admin1, admin1ID := e.Create(apikey.NewKey{Owner: "ops", Name: "root", Scopes: []string{apikey.AdminScope}})
	leaked, leakedID := e.Create(apikey.NewKey{Owner: "alice", Name: "leaked", Scopes: []string{"bots:read"}})
	r := e.Do("POST", "/admin/keys", leaked, `{"name":"made by the leak","scopes":["bots:read"]}`)
	require.Equal(t, 201, r.Status, r.Body)
	var minted secretBody
	r.JSON(t, &minted)

	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/", admin1)
	b.do("the page's own key is marked", chromedp.WaitVisible(chromedp.CSS(rowSel(admin1ID)+" .you")))
	assert.Equal(t, `Signed in: root`, b.text("#signed-in"))
	assert.Equal(t, 0, b.count(rowSel(admin1ID)+` button[data-action=toggle]`), "no Disable on the last admin key")
	assert.Equal(t, 0, b.count(rowSel(admin1ID)+` button[data-action=delete]`), "no Delete on the last admin key")
	assert.Equal(t, 1, b.count(rowSel(admin1ID)+` .note`))
	assert.Equal(t, 1, b.count(rowSel(admin1ID)+` button[data-action=rotate]`))
	assert.Equal(t, 1, b.count(".you"), "only the page's own key is marked")
	assert.Equal(t, 1, b.count(rowSel(leakedID)+` button[data-action=delete]`))

	b.do("edit the last admin key", chromedp.Click(chromedp.CSS(rowSel(admin1ID)+` button[data-action=edit]`)), until(`document.getElementById("edit").open`))
	disabled := jsValue[[]string](b, `[...document.querySelectorAll("#edit-fields :is(input, select, textarea):disabled")].map(c => c.id)`)
	assert.ElementsMatch(t, []string{"edit-expires_at", "edit-expires_at-date", "edit-rate_limit", "edit-rate_limit-window",
		"edit-allowed_ips", "edit-remaining_uses", "edit-enabled",
		"edit-refill-interval", "edit-refill-amount", "edit-refill-day", "edit-refill-roll_over"}, disabled, "nothing that could lock it out")
	assert.True(t, jsValue[bool](b, `document.getElementById("edit-rate_limits-add").disabled`), "no named limit either")
	assert.Contains(t, b.text("#edit-note"), "This is the last admin key")
	b.do("its name may change", fill("#edit-name", "root key"), chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)),
		until(`!document.getElementById("edit").open`))
	k, err := e.Keys.Get(ctx, admin1ID)
	require.NoError(t, err)
	assert.Equal(t, "root key", k.Name)

	b.do("disable the leaked key", chromedp.Click(chromedp.CSS(rowSel(leakedID)+` button[data-action=toggle]`)))
	title, body := b.confirmDialog()
	assert.Equal(t, `Disable "leaked" (`+start(t, e, leakedID)+`…)?`, title)
	assert.Contains(t, body, "which will be disabled too")
	assert.Contains(t, body, `"made by the leak" (`+minted.Key.Start+`…), alice`)
	b.answer("confirm-ok")
	b.do("both are disabled", chromedp.WaitVisible(chromedp.CSS(rowSel(leakedID)+` .state-disabled`)),
		chromedp.WaitVisible(chromedp.CSS(rowSel(minted.Key.ID)+` .state-disabled`)))
	assert.Equal(t, `Disabled "leaked" (`+start(t, e, leakedID)+`…) and 1 key it made.`, b.text("#notice"))
	assert.Equal(t, 401, e.Do("GET", "/", leaked, "").Status)
	assert.Equal(t, 401, e.Do("GET", "/", minted.Plaintext, "").Status, "the key the leak made is disabled with it")

	b.do("create a second admin key",
		chromedp.Click(chromedp.CSS("#create-box summary")),
		fill("#create-name", "second admin"),
		fill("#create-scopes", "admin"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
		chromedp.WaitVisible(chromedp.CSS(rowSel(admin1ID)+` button[data-action=delete]`)),
	)
	assert.Equal(t, 1, b.count(rowSel(admin1ID)+` button[data-action=toggle]`), "no longer the last admin key")
	assert.Equal(t, 0, b.count(rowSel(admin1ID)+` .note`))

	b.do("ask to delete the page's own key", chromedp.Click(chromedp.ID("secret-done")), chromedp.Click(chromedp.CSS(rowSel(admin1ID)+` button[data-action=delete]`)))
	_, body = b.confirmDialog()
	assert.Contains(t, body, "This is the key this page is signed in with: the page will lock.")
	b.answer("confirm-cancel")

	b.do("rotate the page's own key", chromedp.Click(chromedp.CSS(rowSel(admin1ID)+` button[data-action=rotate]`)))
	_, body = b.confirmDialog()
	assert.Contains(t, body, "the page goes on with the new one")
	b.answer("confirm-ok")
	b.do("the page goes on with the new key", chromedp.WaitVisible(chromedp.ID("secret")),
		until(`document.querySelectorAll("#rows tr .you").length === 1 && !document.querySelector(`+js(rowSel(admin1ID)+" .you")+`)`))
	old, err := e.Keys.Get(ctx, admin1ID)
	require.NoError(t, err)
	require.NotEmpty(t, old.RotatedTo)
	assert.Equal(t, 1, b.count(rowSel(old.RotatedTo)+" .you"))
	b.clean()
}

// TestBrowserOwnerKey: signed in with a key without the admin scope, the
// page lists its owner's keys only and offers no grace longer than the
// API allows it.
func TestBrowserOwnerKey(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.Create(apikey.NewKey{Owner: "alice", Name: "alice's", Scopes: []string{"bots:read"}})
	_, ci := e.Create(apikey.NewKey{Owner: "alice", Name: "ci", Scopes: []string{"bots:read"},
		Metadata: map[string]string{"note": "two\nlines", "x": "</script><b>y"}})
	e.Create(apikey.NewKey{Owner: "bob", Name: "bob's"})
	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/", alice)
	b.do("the list", chromedp.WaitVisible(chromedp.CSS(rowSel(ci))))
	assert.Equal(t, []string{"ci", "alice's"}, b.rowNames())

	// Metadata that one key=value a line cannot hold is shown, not
	// edited, and a change to another field leaves it as it was.
	b.do("edit", chromedp.Click(chromedp.CSS(rowSel(ci)+` button[data-action=edit]`)), until(`document.getElementById("edit").open`))
	assert.True(t, jsValue[bool](b, `document.getElementById("edit-metadata").readOnly`))
	b.do("rename", fill("#edit-name", "ci <b>2</b>"), chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)),
		until(`!document.getElementById("edit").open`))
	k, err := e.Keys.Get(context.Background(), ci)
	require.NoError(t, err)
	assert.Equal(t, "ci <b>2</b>", k.Name)
	assert.Equal(t, map[string]string{"note": "two\nlines", "x": "</script><b>y"}, k.Metadata)
	assert.Equal(t, "ci <b>2</b>", b.text(rowSel(ci)+" a.key-link"), "text, not HTML")
	assert.Contains(t, b.text("#notice"), ": name.", "only the name was sent")
	b.do("rotate", chromedp.Click(chromedp.CSS(rowSel(ci)+` button[data-action=rotate]`)))
	b.confirmDialog()
	assert.Equal(t, []string{"0s", "1h", "24h"}, jsValue[[]string](b, `[...document.getElementById("grace").options].map(o => o.value)`))
	assert.Contains(t, b.text("#confirm-body"), "Your key may give at most 24h of grace.")
	b.answer("confirm-cancel")
	b.clean()
}

// rotatedNotice waits for a rotation's notice, which the page shows after
// the new key and the rows it updates.
var rotatedNotice = until(`document.getElementById("notice").textContent.startsWith("Rotated")`)
