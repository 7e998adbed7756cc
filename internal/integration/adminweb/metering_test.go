package adminweb_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The page's metering: named rate limits and refills in the key forms, a
// key's usage on its page and its credits in the list, and the owners
// view, where an admin sets the policies all of an owner's keys share.

// limitSel is the control part ("name", "limit", "window") of the nth
// named limit (from 1) of the fields form ("create", "edit" or
// "owner-edit").
func limitSel(form string, n int, part string) string {
	return fmt.Sprintf(`#%s-rate_limits .limit-row:nth-child(%d) [data-part=%s]`, form, n, part)
}

// limitRows returns the named limits a form shows, as typed.
func (b *browser) limitRows(form string) [][]string {
	b.t.Helper()
	return jsValue[[][]string](b, `[...document.querySelectorAll("#`+form+`-rate_limits .limit-row")].map(r => [...r.querySelectorAll("input")].map(i => i.value))`)
}

// requests counts the requests the server saw with method whose path
// starts with prefix.
func requests(e *env, method, prefix string) int {
	n := 0
	for _, x := range e.Seen() {
		if x.Method == method && strings.HasPrefix(x.Path, prefix) {
			n++
		}
	}
	return n
}

// TestBrowserMeteringFields: the create form and the edit view set named
// rate limits (rows added and removed, each control naming its row) and
// a refill; what the page cannot send it says beside the field, and a
// change sends only what changed.
func TestBrowserMeteringFields(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, _ := e.Create(apikey.NewKey{Owner: "alice", Name: "alice's"})
	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/", adminKey)
	b.do("the list", chromedp.WaitVisible(chromedp.CSS("#rows tr")))

	// A key typed where the owner belongs is not sent.
	posts := requests(e, "POST", "/admin/keys")
	b.do("a key as the owner", chromedp.Click(chromedp.CSS("#create-box summary")),
		fill("#create-name", "metered ci"), fill("#create-owner", alice),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)), until(`!document.getElementById("create-error").hidden`))
	assert.Equal(t, "That looks like an API key, not an owner, so it was not sent", b.text("#create-error"))
	assert.Equal(t, "create-owner", b.focused())
	assert.Empty(t, jsValue[string](b, `document.getElementById("create-owner").value`), "and it leaves the field")
	assert.Equal(t, posts, requests(e, "POST", "/admin/keys"))

	// Named limits: a row each, added and removed.
	b.do("add a limit", fill("#create-owner", "alice"), chromedp.Click(chromedp.ID("create-rate_limits-add")))
	assert.Equal(t, "create-rate_limits-1-name", b.focused(), "a new row starts at its name")
	assert.Equal(t, "Name of limit 1", b.focusedLabel())
	b.do("fill it, and one without a name",
		fill(limitSel("create", 1, "name"), "burst"), fill(limitSel("create", 1, "limit"), "10"), fill(limitSel("create", 1, "window"), "1s"),
		chromedp.Click(chromedp.ID("create-rate_limits-add")),
		fill(limitSel("create", 2, "limit"), "10000"), fill(limitSel("create", 2, "window"), "1d"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)), until(`!document.getElementById("create-error").hidden`))
	assert.Equal(t, "Named rate limits: give each limit a name, such as burst or daily", b.text("#create-error"))
	assert.Equal(t, "create-rate_limits-2-name", b.focused())
	b.do("name it; a third with a window the page cannot read",
		fill(limitSel("create", 2, "name"), "daily"), chromedp.Click(chromedp.ID("create-rate_limits-add")),
		fill(limitSel("create", 3, "name"), "oops"), fill(limitSel("create", 3, "limit"), "1"), fill(limitSel("create", 3, "window"), "a week"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)), until(`document.getElementById("create-error").textContent.includes("window")`))
	assert.Equal(t, `Named rate limits, "oops": the window is a duration such as 1s, 1m, 1h or 1d`, b.text("#create-error"))
	assert.Equal(t, "create-rate_limits-3-window", b.focused())
	assert.Equal(t, "Window of limit 3, such as 1s, 1m, 1h or 1d", b.focusedLabel())
	assert.Equal(t, posts, requests(e, "POST", "/admin/keys"), "nothing sent")
	b.do("remove the third", chromedp.Click(chromedp.CSS(`#create-rate_limits .limit-row:nth-child(3) button`)))
	assert.Equal(t, "create-rate_limits-2-name", b.focused(), "the focus goes to the row before")
	assert.Equal(t, []string{"Name of limit 1", "Requests of limit 1", "Window of limit 1, such as 1s, 1m, 1h or 1d", "Remove limit 1",
		"Name of limit 2", "Requests of limit 2", "Window of limit 2, such as 1s, 1m, 1h or 1d", "Remove limit 2"},
		jsValue[[]string](b, `[...document.querySelectorAll("#create-rate_limits .limit-row :is(input, button)")].map(c => c.getAttribute("aria-label"))`),
		"each control names its row")
	assert.Equal(t, [][]string{{"burst", "10", "1s"}, {"daily", "10000", "1d"}}, b.limitRows("create"))

	// A refill: monthly on the 31st, rolled over.
	assert.True(t, jsValue[bool](b, `document.getElementById("create-refill-amount").closest(".sub-field").hidden`), "no amount without a refill")
	b.do("a refill", choose("#create-refill-interval", "monthly"))
	assert.Equal(t, "create-refill-amount", b.focused(), "choosing one goes to its amount")
	b.do("fill it", fill("#create-refill-amount", "100"), fill("#create-refill-day", "31"), chromedp.Click(chromedp.ID("create-refill-roll_over")))
	b.axe("the create form with limits and a refill")
	b.do("create", chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("secret")))
	made := findByName(t, e, "metered ci")
	assert.Equal(t, "alice", made.Owner)
	assert.Equal(t, []apikey.RateLimit{{Name: "burst", Limit: 10, Window: time.Second}, {Name: "daily", Limit: 10000, Window: 24 * time.Hour}}, made.RateLimits)
	assert.Equal(t, &apikey.Refill{Amount: 100, Interval: apikey.RefillMonthly, Day: 31, RollOver: true}, made.Refill)
	require.NotNil(t, made.RemainingUses)
	assert.Equal(t, int64(100), *made.RemainingUses, "without a usage limit, it starts with the refill's amount")
	row := rowSel(made.ID)
	assert.Equal(t, "100/100 left", b.text(row+" .credits"), "the list shows what it may still spend")
	assert.Empty(t, b.limitRows("create"), "the form is empty again")

	// The edit view: the limits and the refill as stored; saved as they
	// are, nothing is sent.
	b.do("edit it", chromedp.Click(chromedp.ID("secret-done")), chromedp.Click(chromedp.CSS(row+` button[data-action=edit]`)), until(`document.getElementById("edit").open`))
	assert.Equal(t, [][]string{{"burst", "10", "1s"}, {"daily", "10000", "1d"}}, b.limitRows("edit"), "windows as typed, not 24h0m0s")
	assert.Equal(t, []string{"monthly", "100", "31", "true"}, jsValue[[]string](b, `["interval", "amount", "day"].map(p => document.getElementById("edit-refill-" + p).value).concat(String(document.getElementById("edit-refill-roll_over").checked))`))
	b.axe("the edit view with limits and a refill")
	patches := requests(e, "PATCH", "/admin/keys")
	b.do("save it as it is", chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)), until(`!document.getElementById("edit").open`))
	assert.Contains(t, b.text("#notice"), "Nothing changed")
	assert.Equal(t, patches, requests(e, "PATCH", "/admin/keys"))

	b.do("change the limits and the refill", chromedp.Click(chromedp.CSS(row+` button[data-action=edit]`)), until(`document.getElementById("edit").open`),
		chromedp.Click(chromedp.CSS(`#edit-rate_limits .limit-row:nth-child(1) button`)),
		fill(limitSel("edit", 1, "limit"), "5000"),
		chromedp.Click(chromedp.ID("edit-rate_limits-add")),
		fill(limitSel("edit", 2, "name"), "minute"), fill(limitSel("edit", 2, "limit"), "60"), fill(limitSel("edit", 2, "window"), "1m"),
		choose("#edit-refill-interval", "daily"), fill("#edit-refill-amount", "50"), chromedp.Click(chromedp.ID("edit-refill-roll_over")),
		chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)), until(`!document.getElementById("edit").open`))
	assert.Equal(t, `Saved "metered ci" (`+made.Start+`…): refill, rate limits.`, b.text("#notice"), "only what changed")
	k, err := e.Keys.Get(ctx, made.ID)
	require.NoError(t, err)
	assert.Equal(t, []apikey.RateLimit{{Name: "daily", Limit: 5000, Window: 24 * time.Hour}, {Name: "minute", Limit: 60, Window: time.Minute}}, k.RateLimits)
	assert.Equal(t, &apikey.Refill{Amount: 50, Interval: apikey.RefillDaily}, k.Refill)

	// No usage limit would drop the refill with it: said, not sent.
	patches = requests(e, "PATCH", "/admin/keys")
	b.do("type what is not a number", chromedp.Click(chromedp.CSS(row+` button[data-action=edit]`)), until(`document.getElementById("edit").open`),
		fill("#edit-remaining_uses", "1e"), chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)), until(`!document.getElementById("edit-error").hidden`))
	assert.Equal(t, "Uses are a whole number, at least 0; leave it empty for no limit", b.text("#edit-error"), "not read as empty, which is no limit")
	assert.Equal(t, "edit-remaining_uses", b.focused())
	b.do("lift the usage limit, keeping the refill",
		fill("#edit-remaining_uses", ""), chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)), until(`!document.getElementById("edit-error").hidden`))
	assert.Equal(t, "A refill gives uses back, so it needs a usage limit: fill in the uses, or choose no refill", b.text("#edit-error"))
	assert.Equal(t, "edit-remaining_uses", b.focused())
	assert.Equal(t, patches, requests(e, "PATCH", "/admin/keys"))
	b.do("no refill, no limits", choose("#edit-refill-interval", ""),
		chromedp.Click(chromedp.CSS(`#edit-rate_limits .limit-row:nth-child(2) button`)), chromedp.Click(chromedp.CSS(`#edit-rate_limits .limit-row:nth-child(1) button`)),
		chromedp.Click(chromedp.CSS(`#edit-form button[type=submit]`)), until(`!document.getElementById("edit").open`))
	k, err = e.Keys.Get(ctx, made.ID)
	require.NoError(t, err)
	assert.Empty(t, k.RateLimits)
	assert.Nil(t, k.Refill)
	assert.Nil(t, k.RemainingUses)
	assert.Equal(t, 0, b.count(row+" .credits"), "no credits to show")
	b.clean()
}

// TestBrowserKeyUsage: the list shows each key's credits compactly, and a
// key's page its usage: uses left (a refill due counted) and spent, the
// refill and when the next comes, its named limits, and a link to its
// owner's policy.
func TestBrowserKeyUsage(t *testing.T) {
	// The Manager's clock, set back to make a key whose refill is due.
	var clock atomic.Pointer[time.Time]
	now := time.Now().UTC()
	clock.Store(&now)
	e := newEnvConfig(t, envConfig{KeyOpts: []apikey.Option{apikey.WithClock(func() time.Time { return *clock.Load() })}})
	ctx := context.Background()
	plain, meteredID := e.Create(apikey.NewKey{Owner: "acme/eu", Name: "metered",
		Refill:     &apikey.Refill{Amount: 10, Interval: apikey.RefillDaily},
		RateLimits: []apikey.RateLimit{{Name: "burst", Limit: 10, Window: time.Second}, {Name: "daily", Limit: 10000, Window: 24 * time.Hour}}})
	for range 3 {
		require.Equal(t, 200, e.Do("GET", "/", plain, "").Status)
	}
	// Its uses ran out last period: the next request refills them, and
	// the page shows them so already.
	monthly := &apikey.Refill{Amount: 5, Interval: apikey.RefillMonthly, Day: 31, RollOver: true}
	then := now.AddDate(0, -2, 0)
	clock.Store(&then)
	due, dueID := e.Create(apikey.NewKey{Owner: "acme/eu", Name: "due", MaxUses: 2, Refill: monthly})
	for range 2 {
		require.Equal(t, 200, e.Do("GET", "/", due, "").Status)
	}
	clock.Store(&now)
	trial, _ := e.Create(apikey.NewKey{Owner: "bob", Name: "trial", MaxUses: 5})
	require.Equal(t, 200, e.Do("GET", "/", trial, "").Status)
	_, spentID := e.Create(apikey.NewKey{Owner: "bob", Name: "spent", MaxUses: 1})
	_, err := e.Keys.Update(ctx, spentID, apikey.SetRemainingUses(0))
	require.NoError(t, err)
	e.Create(apikey.NewKey{Owner: "bob", Name: "unlimited"})
	uses := int64(1000)
	_, err = e.Keys.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "acme/eu", RemainingUses: &uses, MaxKeys: 5,
		RateLimits: []apikey.RateLimit{{Name: "pooled", Limit: 100, Window: time.Second}}})
	require.NoError(t, err)

	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/", adminKey)
	b.do("the list", chromedp.WaitVisible(chromedp.CSS("#rows tr")))
	credits := jsValue[map[string]string](b, `Object.fromEntries([...document.querySelectorAll("#rows tr")].map(tr => [tr.querySelector("a.key-link").textContent, (tr.querySelector(".credits") || {}).textContent || ""]))`)
	assert.Equal(t, map[string]string{"metered": "7/10 left", "due": "5/5 left", "trial": "4 left", "spent": "0 left", "unlimited": ""}, credits)
	assert.Equal(t, 1, b.count(rowSel(spentID)+" .credits.none-left"), "none left stands out")
	assert.Contains(t, jsValue[string](b, `document.querySelector(`+js(rowSel(dueID)+" .credits")+`).title`), "5 uses left; refilled with 5 uses every month on day 31")

	b.do("open the metered key", chromedp.Click(chromedp.CSS(rowSel(meteredID)+" a.key-link")), chromedp.WaitVisible(chromedp.ID("usage-fields")),
		until(`!document.getElementById("owner-policy").hidden`))
	today := now.Truncate(24 * time.Hour)
	usage := b.usage()
	require.Len(t, usage, 6)
	assert.Equal(t, [][]string{{"Uses left", "7"}, {"Uses spent", "3 in all"}, {"Refill", "10 uses every day at 00:00 UTC; unused ones lapse"},
		{"Last refill", today.Format("2006-01-02 15:04") + " UTC"}}, usage[:4])
	assert.Equal(t, "Next refill", usage[4][0])
	assert.Regexp(t, `^`+today.Add(24*time.Hour).Format("2006-01-02 15:04")+` UTC \(in \d+ (minute|hour)s?\)$`, usage[4][1])
	assert.Equal(t, []string{"Named rate limits", "burst: 10 a seconddaily: 10000 a day"}, usage[5])
	assert.Equal(t, "none besides its named limits", jsValue[string](b, `[...document.querySelectorAll("#key-view > dl div")].find(d => d.querySelector("dt").textContent === "Rate limit").querySelector("dd").textContent`),
		"not the server's default, which applies to keys without any limit")
	assert.Equal(t, "Its owner's keys share acme/eu's policy too: 1000 shared uses left; pooled: 100 a second; at most 5 keys.", b.text("#owner-policy"),
		"the owner's shared budget, in short")
	assert.Equal(t, "#/owners/acme%2Feu", jsValue[string](b, `document.querySelector("#owner-policy a").hash`))
	b.axe("a metered key's page")

	// The 31st: the month's last day when it is shorter.
	b.do("open the key refilled monthly", chromedp.Evaluate[chromedp.Void](`location.hash = "#/keys/`+dueID+`"`),
		until(`document.getElementById("key-id").textContent === "`+dueID+`"`))
	usage = b.usage()
	require.Len(t, usage, 6)
	assert.Equal(t, []string{"Uses left", "5"}, usage[0], "the refill due is counted")
	assert.Equal(t, []string{"Refill", "5 uses every month on day 31 at 00:00 UTC (or the month's last day); unused ones roll over"}, usage[2])
	assert.Equal(t, []string{"Last refill", monthly.PeriodStart(now).Format("2006-01-02 15:04") + " UTC"}, usage[3])
	assert.True(t, strings.HasPrefix(usage[4][1], monthly.NextRefill(now).Format("2006-01-02 15:04")+" UTC (in "), usage[4][1])
	assert.Equal(t, []string{"Named rate limits", "none"}, usage[5])

	// The owner's policy, one link away.
	b.do("follow the owner's link", chromedp.Click(chromedp.CSS("#owner-policy a")), until(`location.hash === "#/owners/acme%2Feu"`),
		chromedp.WaitVisible(chromedp.ID("owner-fields-list")))
	assert.Equal(t, "owners-title", b.focused())
	assert.Equal(t, "acme/eu", b.text("#owners-title"))
	assert.Equal(t, "page", jsValue[string](b, `document.getElementById("nav-owners").getAttribute("aria-current")`))
	usage = b.usage()
	assert.Equal(t, [][]string{{"Uses left", "1000"}, {"Uses spent", "0 in all"}, {"Refill", "none"}, {"Shared rate limits", "pooled: 100 a second"}, {"Max keys", "5"}}, usage[:5])

	// A key without an owner policy has no such line.
	b.do("open bob's trial key", chromedp.Evaluate[chromedp.Void](`location.hash = "#/keys/`+findByName(t, e, "trial").ID+`"`),
		chromedp.WaitVisible(chromedp.ID("usage-fields")), until(`document.querySelectorAll("#key-chain li").length > 0`))
	assert.True(t, jsValue[bool](b, `document.getElementById("owner-policy").hidden`))
	assert.Equal(t, [][]string{{"Uses left", "4"}, {"Uses spent", "1 in all"}, {"Refill", "none"}, {"Named rate limits", "none"}}, b.usage())

	// A phone: the credits in the row's second line, the page fits.
	b.do("a phone, the list", chromedp.Click(chromedp.ID("nav-keys")), chromedp.WaitVisible(chromedp.ID("rows")), phone())
	assert.Contains(t, b.text(rowSel(meteredID)+" .sub"), " · 7/10 left")
	l := b.layout()
	assert.LessOrEqual(t, l.ScrollWidth, l.Width)
	assert.Empty(t, l.Overflowing)
	b.do("the metered key on a phone", chromedp.Evaluate[chromedp.Void](`location.hash = "#/keys/`+meteredID+`"`),
		until(`document.getElementById("key-id").textContent === "`+meteredID+`" && !document.getElementById("owner-policy").hidden`))
	l = b.layout()
	assert.LessOrEqual(t, l.ScrollWidth, l.Width)
	assert.Empty(t, l.Overflowing)
	b.axe("a metered key's page at 390 px")
	b.clean()
}

// TestBrowserOwners: an admin lists every owner policy, sets one (the
// API's refusals shown beside the form: an owner without keys, a bad
// value), changes one without giving back what its keys spent meanwhile,
// and removes one; an owner holding "/" works, and a key where an owner
// belongs is never sent.
func TestBrowserOwners(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, _ := e.Create(apikey.NewKey{Owner: "alice/team", Name: "alice's"})
	e.Create(apikey.NewKey{Owner: "bob", Name: "bob's"})
	uses := int64(500)
	_, err := e.Keys.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "bob", RemainingUses: &uses, MaxKeys: 3,
		Refill:     &apikey.Refill{Amount: 500, Interval: apikey.RefillMonthly, Day: 1},
		RateLimits: []apikey.RateLimit{{Name: "pooled", Limit: 50, Window: time.Second}}})
	require.NoError(t, err)

	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/", adminKey)
	b.do("the owners view", chromedp.WaitVisible(chromedp.CSS("#rows tr")), chromedp.Click(chromedp.ID("nav-owners")),
		until(`location.hash === "#/owners"`), chromedp.WaitVisible(chromedp.CSS("#owner-rows tr")))
	assert.Equal(t, "owners-title", b.focused())
	assert.Equal(t, "page", jsValue[string](b, `document.getElementById("nav-owners").getAttribute("aria-current")`))
	assert.Equal(t, [][]string{{"bob", "pooled: 50 a second", "500/500 left0 spent", "500 uses every month on day 1 at 00:00 UTC; unused ones lapse", "3"}},
		jsValue[[][]string](b, `[...document.querySelectorAll("#owner-rows tr")].map(tr => [...tr.querySelectorAll("td:not(.c-actions)")].map(td => td.firstChild.textContent + (td.children[1] && td.classList.contains("c-uses") ? td.children[1].textContent : "")))`))
	assert.Equal(t, []string{"Edit the policy of bob", "Remove the policy of bob"}, jsValue[[]string](b, `[...document.querySelectorAll("#owner-rows button")].map(b => b.getAttribute("aria-label"))`))

	// A new policy: for an owner with no keys, refused as the API says;
	// for a key typed as the owner, never sent.
	puts := requests(e, "PUT", "/admin/owners")
	b.do("set a policy for a key", chromedp.Click(chromedp.ID("owner-new")), until(`document.getElementById("owner-edit").open`),
		fill("#owner-edit-owner", alice), chromedp.Click(chromedp.CSS(`#owner-form button[type=submit]`)), until(`!document.getElementById("owner-edit-error").hidden`))
	assert.Equal(t, "owner-edit-owner", b.focused())
	assert.Equal(t, "That looks like an API key, not an owner, so it was not sent", b.text("#owner-edit-error"))
	assert.Equal(t, puts, requests(e, "PUT", "/admin/owners"))
	b.do("for an owner a URL cannot hold", fill("#owner-edit-owner", ".."),
		chromedp.Click(chromedp.CSS(`#owner-form button[type=submit]`)), until(`document.getElementById("owner-edit-error").textContent.includes("..")`))
	assert.Equal(t, `An owner named ".." cannot be sent in a URL: set its policy in Go, with Manager.SetOwnerPolicy`, b.text("#owner-edit-error"))
	assert.Equal(t, puts, requests(e, "PUT", "/admin/owners"))
	b.do("for an owner without keys", fill("#owner-edit-owner", "carol"), fill("#owner-edit-max_keys", "2"),
		chromedp.Click(chromedp.CSS(`#owner-form button[type=submit]`)), until(`document.getElementById("owner-edit-error").textContent.includes("carol")`))
	assert.Equal(t, `owner "carol" has no keys; create one first`, b.text("#owner-edit-error"))
	assert.True(t, jsValue[bool](b, `document.getElementById("owner-edit").open`), "the form stays open with what was typed")
	b.do("for alice/team, one value the API refuses",
		fill("#owner-edit-owner", "alice/team"),
		chromedp.Click(chromedp.ID("owner-edit-rate_limits-add")),
		fill(limitSel("owner-edit", 1, "name"), "pooled"), fill(limitSel("owner-edit", 1, "limit"), "100"), fill(limitSel("owner-edit", 1, "window"), "40000d"),
		choose("#owner-edit-refill-interval", "daily"), fill("#owner-edit-refill-amount", "1000"),
		chromedp.Click(chromedp.CSS(`#owner-form button[type=submit]`)), until(`document.getElementById("owner-edit-error").textContent.includes("40000d")`))
	assert.Equal(t, `rate_limits[0].window: "40000d" is not a duration such as 30d, 720h, 90m or 30s`, b.text("#owner-edit-error"))
	b.axe("the policy form")
	b.do("correct it", fill(limitSel("owner-edit", 1, "window"), "1s"),
		chromedp.Click(chromedp.CSS(`#owner-form button[type=submit]`)), until(`!document.getElementById("owner-edit").open`),
		until(`document.querySelectorAll("#owner-rows tr").length === 2`))
	assert.Equal(t, "Saved the policy of alice/team.", b.text("#notice"))
	assert.Equal(t, "owner-new", b.focused(), "the focus goes back to the button")
	pol, err := e.Keys.OwnerPolicy(ctx, "alice/team")
	require.NoError(t, err)
	assert.Equal(t, []apikey.RateLimit{{Name: "pooled", Limit: 100, Window: time.Second}}, pol.RateLimits)
	assert.Equal(t, &apikey.Refill{Amount: 1000, Interval: apikey.RefillDaily}, pol.Refill)
	require.NotNil(t, pol.RemainingUses)
	assert.Equal(t, int64(1000), *pol.RemainingUses, "it starts with the refill's amount")
	assert.Equal(t, 2, pol.MaxKeys, "what was typed for carol stayed")
	b.shoot("admin-owners-1280.png")

	// A change while the owner's keys spend: the uses left are not sent
	// back unless changed, so a use spent meanwhile stays spent.
	row := `#owner-rows tr[data-owner="alice/team"]`
	b.do("edit alice/team's policy", chromedp.Click(chromedp.CSS(row+` button[data-owner-action=edit]`)), until(`document.getElementById("owner-edit").open`))
	assert.Equal(t, "Edit the policy of alice/team", b.text("#owner-edit-title"))
	assert.True(t, jsValue[bool](b, `document.getElementById("owner-edit-owner").closest(".field").hidden`), "the owner is not for changing")
	assert.Equal(t, "1000", jsValue[string](b, `document.getElementById("owner-edit-remaining_uses").value`))
	assert.Equal(t, [][]string{{"pooled", "100", "1s"}}, b.limitRows("owner-edit"))
	require.Equal(t, 200, e.Do("GET", "/", alice, "").Status)
	puts = requests(e, "PUT", "/admin/owners")
	b.do("save it unchanged", chromedp.Click(chromedp.CSS(`#owner-form button[type=submit]`)), until(`!document.getElementById("owner-edit").open`))
	assert.Equal(t, "Nothing changed in the policy of alice/team.", b.text("#notice"))
	assert.Equal(t, puts, requests(e, "PUT", "/admin/owners"), "nothing sent")
	assert.Contains(t, b.focused(), "Edit the policy of alice/team")
	b.do("edit it again", chromedp.Click(chromedp.CSS(row+` button[data-owner-action=edit]`)), until(`document.getElementById("owner-edit").open`))
	assert.Equal(t, "999", jsValue[string](b, `document.getElementById("owner-edit-remaining_uses").value`), "as the policy is now")
	require.Equal(t, 200, e.Do("GET", "/", alice, "").Status)
	b.do("change the cap only", fill("#owner-edit-max_keys", "1"),
		chromedp.Click(chromedp.CSS(`#owner-form button[type=submit]`)), until(`!document.getElementById("owner-edit").open`))
	pol, err = e.Keys.OwnerPolicy(ctx, "alice/team")
	require.NoError(t, err)
	assert.Equal(t, 1, pol.MaxKeys)
	assert.Equal(t, int64(998), *pol.RemainingUses, "the use spent while the form was open is not given back")
	assert.Contains(t, b.focused(), "Edit the policy of alice/team")

	// The cap holds: the create form says why.
	b.do("create one key too many", chromedp.Click(chromedp.ID("nav-keys")), chromedp.WaitVisible(chromedp.ID("rows")),
		chromedp.Click(chromedp.CSS("#create-box summary")), fill("#create-name", "second"), fill("#create-owner", "alice/team"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)), until(`!document.getElementById("create-error").hidden`))
	assert.Contains(t, b.text("#create-error"), "may have 1")

	// On a phone: a line a policy, each a link to the owner's page.
	b.do("the policies on a phone", chromedp.Click(chromedp.ID("nav-owners")), chromedp.WaitVisible(chromedp.CSS(row)), phone())
	assert.Equal(t, "998/1000 left shared · 1 limit · at most 1 key", b.text(row+" .sub"))
	l := b.layout()
	assert.LessOrEqual(t, l.ScrollWidth, l.Width)
	assert.Empty(t, l.Overflowing)
	b.axe("the policies at 390 px")

	// One owner's page, by its link.
	b.do("alice/team's page", chromedp.Click(chromedp.CSS(row+" a")), until(`location.hash === "#/owners/alice%2Fteam"`), chromedp.WaitVisible(chromedp.ID("owner-fields-list")))
	l = b.layout()
	assert.LessOrEqual(t, l.ScrollWidth, l.Width)
	assert.Empty(t, l.Overflowing)
	b.axe("an owner's policy at 390 px")
	b.do("a desktop again", chromedp.EmulateViewport(1280, 800))
	assert.Equal(t, "alice/team", b.text("#owners-title"))
	usage := b.usage()
	require.Len(t, usage, 8)
	assert.Equal(t, [][]string{{"Uses left", "998"}, {"Uses spent", "2 in all"}, {"Refill", "1000 uses every day at 00:00 UTC; unused ones lapse"}}, usage[:3])
	assert.Equal(t, [][]string{{"Shared rate limits", "pooled: 100 a second"}, {"Max keys", "1"}}, usage[5:7])
	b.axe("an owner's policy")

	// Removing, asked first.
	b.do("remove it", chromedp.Click(chromedp.CSS(`#owners-view button[data-owner-action=remove]`)))
	title, body := b.confirmDialog()
	assert.Equal(t, "Remove the policy of alice/team?", title)
	assert.Contains(t, body, "Its keys then have only their own limits")
	b.answer("confirm-ok")
	b.do("back to the policies", until(`location.hash === "#/owners"`), until(`document.querySelectorAll("#owner-rows tr").length === 1`))
	assert.Equal(t, "Removed the policy of alice/team.", b.text("#notice"))
	_, err = e.Keys.OwnerPolicy(ctx, "alice/team")
	assert.ErrorIs(t, err, apikey.ErrNotFound)

	// Removed elsewhere: the page says so.
	require.NoError(t, e.Keys.DeleteOwnerPolicy(ctx, "bob"))
	b.do("edit a policy removed elsewhere", chromedp.Click(chromedp.CSS(`#owner-rows tr[data-owner="bob"] button[data-owner-action=edit]`)),
		until(`!document.getElementById("owners-error").hidden`))
	assert.Equal(t, "bob has no policy any more: it was removed elsewhere.", b.text("#owners-error"))

	// A link holding a key is never followed to the API.
	b.do("open a link holding a key", chromedp.Evaluate[chromedp.Void](`location.hash = "#/owners/`+alice+`"`),
		until(`location.hash === "#/owners"`), until(`document.getElementById("notice").textContent.includes("not an owner")`))
	assert.Equal(t, "That link held what looks like an API key, not an owner, so it was not sent.", b.text("#notice"))
	for _, x := range e.Seen() {
		assert.NotContains(t, x.Path+"?"+x.Query, alice[3:23], "%s %s", x.Method, x.Path)
	}

	// An owner without a policy: an admin may set one from its page.
	b.do("bob's page", chromedp.Evaluate[chromedp.Void](`location.hash = "#/owners/bob"`), chromedp.WaitVisible(chromedp.ID("owner-new")))
	assert.Equal(t, "bob has no policy you may see: its keys have only their own limits.", b.text("#owners-view p"))
	b.do("set one", chromedp.Click(chromedp.ID("owner-new")), until(`document.getElementById("owner-edit").open`))
	assert.Equal(t, "bob", jsValue[string](b, `document.getElementById("owner-edit-owner").value`))
	b.do("cancel", chromedp.Click(chromedp.ID("owner-edit-cancel")), until(`!document.getElementById("owner-edit").open`))
	assert.Equal(t, "owner-new", b.focused())

	// A phone.
	b.do("the policies on a phone", chromedp.Click(chromedp.CSS("a.back")), until(`document.querySelectorAll("#owner-rows tr").length === 0`), phone())
	assert.Equal(t, "No owner has a policy yet. Set one to make an owner's keys share their limits and uses, or to cap how many keys it may have.", b.text("#owners-empty"))
	l = b.layout()
	assert.LessOrEqual(t, l.ScrollWidth, l.Width)
	assert.Empty(t, l.Overflowing)
	b.axe("no policies at 390 px")

	// An owner is text, never HTML.
	e.Create(apikey.NewKey{Owner: "<i>ops</i> & co"})
	_, err = e.Keys.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: "<i>ops</i> & co", MaxKeys: 9})
	require.NoError(t, err)
	b.do("list it", chromedp.Click(chromedp.ID("nav-keys")), chromedp.WaitVisible(chromedp.ID("rows")), chromedp.Click(chromedp.ID("nav-owners")),
		until(`document.querySelectorAll("#owner-rows tr").length === 1`))
	assert.Equal(t, "<i>ops</i> & co", b.text("#owner-rows a"))
	assert.Equal(t, 0, b.count("#owners-view i"))
	b.do("its page", chromedp.Click(chromedp.CSS("#owner-rows a")), chromedp.WaitVisible(chromedp.ID("owner-fields-list")))
	assert.Equal(t, "<i>ops</i> & co", b.text("#owners-title"))
	assert.Equal(t, "#/owners/%3Ci%3Eops%3C%2Fi%3E%20%26%20co", jsValue[string](b, `location.hash`))
	b.clean(404, 409, 400) // carol without keys, a create beyond the cap, the window refused, bob's policy removed elsewhere
}

// TestBrowserOwnersReadOnly: a key without the admin scope sees its own
// owner's policy, and nothing to change it with.
func TestBrowserOwnersReadOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, aliceID := e.Create(apikey.NewKey{Owner: "alice", Name: "alice's"})
	bob, _ := e.Create(apikey.NewKey{Owner: "bob", Name: "bob's"})
	for _, owner := range []string{"alice", "carol"} {
		if owner == "carol" {
			e.Create(apikey.NewKey{Owner: "carol"})
		}
		_, err := e.Keys.SetOwnerPolicy(ctx, apikey.OwnerPolicy{Owner: owner, MaxKeys: 4,
			RateLimits: []apikey.RateLimit{{Name: "pooled", Limit: 20, Window: time.Minute}}})
		require.NoError(t, err)
	}

	b := newBrowser(t)
	b.unlock(e.Srv.URL+"/admin/#/owners", alice)
	b.do("its owner's policy", chromedp.WaitVisible(chromedp.ID("owner-fields-list")))
	assert.Equal(t, "Your owner's policy: alice", b.text("#owners-title"))
	assert.Equal(t, [][]string{{"Uses left", "no limit"}, {"Uses spent", "0 in all"}, {"Refill", "none"}, {"Shared rate limits", "pooled: 20 a minute"}, {"Max keys", "4"}},
		b.usage()[:5])
	assert.Equal(t, 0, b.count("#owners-view button"), "nothing to change it with")
	assert.NotContains(t, b.text("#owners-view"), "carol", "no other owner's")
	b.axe("an owner's own policy")

	b.do("its key's page links to it", chromedp.Evaluate[chromedp.Void](`location.hash = "#/keys/`+aliceID+`"`),
		until(`!document.getElementById("owner-policy").hidden`))
	assert.Equal(t, "Its owner's keys share alice's policy too: pooled: 20 a minute; at most 4 keys.", b.text("#owner-policy"))
	b.do("follow it", chromedp.Click(chromedp.CSS("#owner-policy a")), chromedp.WaitVisible(chromedp.ID("owner-fields-list")))
	assert.Equal(t, 0, b.count("#owners-view button"))
	b.do("another owner's page", chromedp.Evaluate[chromedp.Void](`location.hash = "#/owners/carol"`),
		until(`(document.getElementById("owners-title") || {}).textContent === "carol"`))
	assert.Equal(t, "carol has no policy you may see: its keys have only their own limits.", b.text("#owners-view p"))
	assert.Equal(t, 0, b.count("#owners-view button"))

	b.do("lock", chromedp.Click(chromedp.ID("lock")), chromedp.WaitVisible(chromedp.ID("login-key")))
	b.unlock(e.Srv.URL+"/admin/#/owners", bob)
	b.do("an owner without a policy", until(`(document.getElementById("owners-title") || {}).textContent === "Your owner's policy: bob"`))
	assert.Contains(t, b.text("#owners-view"), "Your keys' owner, bob, has no policy: each key has only its own limits.")
	b.clean(404) // carol's policy
}
