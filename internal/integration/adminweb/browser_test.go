package adminweb_test

import (
	"context"
	"fmt"
	"github.com/go-apikey/apikey/internal/testkit"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser uses the page as a person would, in headless Chromium:
// unlock it with the admin key, create a key and read it off the page,
// call the host's route with it, disable it, rotate another, delete it,
// and look at the layout on a desktop and a phone-sized screen.
//
// Screenshots go to the test's temporary directory, and also to
// $ADMIN_SCREENSHOT_DIR when it is set.
func TestBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A few keys of every state, so the list has something to show.
	e.Create(apikey.NewKey{Owner: "alice", Name: "deploy bot", Scopes: []string{"bots:read", "bots:write"}, ExpiresAt: time.Now().Add(90 * 24 * time.Hour)})
	_, partner := e.Create(apikey.NewKey{Owner: "acme-corp", Name: "partner backend", Description: "orders sync", Scopes: []string{"orders:read"}})
	_, old := e.Create(apikey.NewKey{Owner: "bob", Name: "old laptop", Scopes: []string{"reports:read"}})
	_, err := e.Keys.Disable(ctx, old)
	require.NoError(t, err)
	_, trial := e.Create(apikey.NewKey{Owner: "carol", Name: "trial", MaxUses: 1})
	_, err = e.Keys.Update(ctx, trial, apikey.SetRemainingUses(0))
	require.NoError(t, err)
	_, gone := e.Create(apikey.NewKey{Owner: "dave", Name: "q3 report", Scopes: []string{"reports:read"}})
	_, err = e.Keys.Update(ctx, gone, apikey.SetExpiry(time.Now().Add(-time.Hour)))
	require.NoError(t, err)
	meteredPlain, metered := e.Create(apikey.NewKey{Owner: "erin", Name: "metered", MaxUses: 5})
	require.Equal(t, 200, e.Do("GET", "/", meteredPlain, "").Status) // 4 uses left
	partnerPlain := e.Plains[1]
	require.Equal(t, 200, e.Do("GET", "/", partnerPlain, "").Status) // so it has a last use
	require.NoError(t, e.Keys.Flush(ctx))

	shots := t.TempDir()
	keep := os.Getenv("ADMIN_SCREENSHOT_DIR")
	screenshot := func(name string, buf []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(shots, name), buf, 0o644))
		if keep != "" {
			require.NoError(t, os.WriteFile(filepath.Join(keep, name), buf, 0o644))
		}
		t.Logf("screenshot %s (%d KB)", filepath.Join(shots, name), len(buf)/1024)
	}

	b := newBrowser(t)
	bctx := b.ctx
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...), what)
	}
	value := func(what string, sel chromedp.ID) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Value(sel))
		require.NoError(t, err, what)
		return v
	}
	text := func(what string, sel chromedp.CSS) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(sel))
		require.NoError(t, err, what)
		return v
	}
	shoot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err, name)
		screenshot(name, buf)
	}

	start := time.Now()
	do("open the page",
		chromedp.Navigate(e.Srv.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.ID("login-key")),
	)
	t.Logf("browser up and page loaded in %v", time.Since(start).Round(time.Millisecond))

	do("unlock",
		chromedp.SendKeys(chromedp.ID("login-key"), adminKey),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("app")),
		chromedp.WaitVisible(chromedp.CSS(`#rows tr[data-id="`+partner+`"]`)),
	)
	assert.Empty(t, value("the key field is cleared", "login-key"))

	do("create a key",
		chromedp.Click(chromedp.CSS("#create-box summary")),
		chromedp.SendKeys(chromedp.CSS(`#create-form input[name=name]`), "browser ci"),
		chromedp.SendKeys(chromedp.CSS(`#create-form input[name=owner]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#create-form input[name=scopes]`), "bots:read, reports:read"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
	)
	plain := value("read the new key", "secret-value")
	require.True(t, strings.HasPrefix(plain, "ak_"), "the page shows the new key, got %q", plain)
	assert.Contains(t, text("read the warning", "#secret .warn"), "won't be shown again")
	do("copy it",
		chromedp.Click(chromedp.ID("copy")),
		chromedp.WaitVisible(chromedp.ID("copy-status")),
	)
	assert.Contains(t, text("copy status", "#copy-status"), "Copied")

	created := findByName(t, e, "browser ci")
	assert.Equal(t, []string{"bots:read", "reports:read"}, created.Scopes)
	assert.Equal(t, "alice", created.Owner)
	assert.Equal(t, 200, e.Do("GET", "/", plain, "").Status, "the key from the page works")

	row := `#rows tr[data-id="` + created.ID + `"]`
	do("the new key is listed", chromedp.WaitVisible(chromedp.CSS(row)))
	shoot("admin-wide.png")

	do("disable it",
		chromedp.Click(chromedp.CSS(row+` button[data-action=toggle]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` .state-disabled`)),
	)
	assert.Equal(t, 401, e.Do("GET", "/", plain, "").Status, "a key disabled in the page is refused")

	do("rotate the partner key",
		chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+partner+`"] button[data-action=rotate]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
		chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](`(v => v.startsWith("ak_") && v !== `+fmt.Sprintf("%q", plain)+`)(document.getElementById("secret-value").value)`)(ctx, t)
			return chromedp.Void{}, err
		}),
	)
	rotated := value("read the rotated key", "secret-value")
	assert.Equal(t, 200, e.Do("GET", "/", rotated, "").Status, "the rotated key works")
	assert.Equal(t, 200, e.Do("GET", "/", partnerPlain, "").Status, "the old one works during its grace period")

	// A usage-limited key is rotated with no grace period (the API refuses
	// one): the new key takes its remaining uses, the old one stops at once.
	do("rotate the usage-limited key",
		chromedp.Click(chromedp.ID("secret-done")),
		chromedp.WaitNotVisible(chromedp.ID("secret")),
		chromedp.Click(chromedp.CSS(`#rows tr[data-id="`+metered+`"] button[data-action=rotate]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
		chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](`(v => v.startsWith("ak_"))(document.getElementById("secret-value").value)`)(ctx, t)
			return chromedp.Void{}, err
		}),
	)
	meteredNew := value("read the new usage-limited key", "secret-value")
	assert.NotEqual(t, rotated, meteredNew)
	assert.NotContains(t, text("the list shows no error", "#list-error"), "usage limit")
	was, err := e.Keys.Get(ctx, metered)
	require.NoError(t, err)
	require.NotEmpty(t, was.RotatedTo, "the old key is marked rotated")
	do("the old key shows no Rotate button, the new one is listed",
		chromedp.WaitVisible(chromedp.CSS(`#rows tr[data-id="`+was.RotatedTo+`"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#rows tr[data-id="`+metered+`"] button[data-action=rotate]`)),
	)
	assert.Equal(t, 401, e.Do("GET", "/", meteredPlain, "").Status, "the old usage-limited key stops at once")
	assert.Equal(t, 200, e.Do("GET", "/", meteredNew, "").Status, "the new one works")
	next, err := e.Keys.Get(ctx, was.RotatedTo)
	require.NoError(t, err)
	require.NotNil(t, next.RemainingUses)
	assert.Equal(t, int64(3), *next.RemainingUses, "it took the old key's 4 uses left, and spent one")

	do("phone-sized screen",
		chromedp.Click(chromedp.ID("secret-done")),
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Sleep(100*time.Millisecond), // reflow
	)
	type layoutCheck struct {
		Width, ScrollWidth int
		Overflowing        []string
		RowDisplay         string
		HeadDisplay        string
		VisibleRows        int
	}
	layout, err := chromedp.Run(bctx, chromedp.Evaluate[layoutCheck](`(() => {
		const w = document.documentElement.clientWidth;
		const over = [];
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (r.width > 0 && (r.right > w + 1 || r.left < -1)) over.push(el.tagName + "#" + el.id + "." + el.className + " " + Math.round(r.left) + ".." + Math.round(r.right));
		}
		const rows = [...document.querySelectorAll("#rows tr")].filter(tr => tr.getBoundingClientRect().height > 0);
		return {Width: w, ScrollWidth: document.documentElement.scrollWidth, Overflowing: over,
			RowDisplay: getComputedStyle(document.querySelector("#rows tr")).display,
			HeadDisplay: getComputedStyle(document.querySelector("#keys thead")).display,
			VisibleRows: rows.length};
	})()`))
	require.NoError(t, err)
	assert.Equal(t, 390, layout.Width)
	assert.LessOrEqual(t, layout.ScrollWidth, layout.Width, "no horizontal scrolling")
	assert.Empty(t, layout.Overflowing, "elements past the right edge")
	assert.Equal(t, "block", layout.RowDisplay, "rows become cards")
	assert.Equal(t, "none", layout.HeadDisplay)
	assert.Equal(t, 9, layout.VisibleRows)
	shoot("admin-narrow.png")

	// A small laptop or a tablet held sideways: the table, and every row's
	// buttons, fit without scrolling.
	do("tablet-sized screen",
		chromedp.EmulateViewport(1024, 768),
		chromedp.Sleep(100*time.Millisecond),
	)
	fit, err := chromedp.Run(bctx, chromedp.Evaluate[[]int](`[document.documentElement.clientWidth, document.documentElement.scrollWidth,
		Math.max(...[...document.querySelectorAll("#rows button")].map(b => Math.ceil(b.getBoundingClientRect().right)))]`))
	require.NoError(t, err)
	assert.Equal(t, fit[0], fit[1], "no horizontal scrolling at 1024px")
	assert.LessOrEqual(t, fit[2], fit[0], "every button on screen at 1024px")
	shoot("admin-tablet.png")

	do("delete it after the confirm dialog",
		chromedp.Click(chromedp.CSS(row+` button[data-action=delete]`)),
		chromedp.WaitNotPresent(chromedp.CSS(row)),
	)
	_, err = e.Keys.Get(ctx, created.ID)
	assert.ErrorIs(t, err, apikey.ErrNotFound)
	assert.Equal(t, 401, e.Do("GET", "/", plain, "").Status)

	stored, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`))
	require.NoError(t, err)
	assert.Equal(t, `[0,0,""]`, stored, "nothing kept in storage or cookies")
	do("lock forgets the key",
		chromedp.Click(chromedp.ID("lock")),
		chromedp.WaitVisible(chromedp.ID("login-key")),
		chromedp.WaitNotVisible(chromedp.ID("app")),
	)

	problems, dialogs := b.seen()
	assert.Empty(t, problems, "script errors, warnings or CSP violations")
	require.Len(t, dialogs, 3, "a confirm before each rotation and before deleting")
	assert.Contains(t, dialogs[0], "Rotate")
	assert.Contains(t, dialogs[0], "keeps working for 24 hours")
	assert.Contains(t, dialogs[1], `Rotate "metered"`)
	assert.Contains(t, dialogs[1], "stops working at once")
	assert.Contains(t, dialogs[2], `Delete "browser ci"`)
	t.Logf("browser test took %v", time.Since(start).Round(time.Millisecond))
}

// browser is a headless Chromium that accepts every confirm() and
// collects what the page reports as problems.
type browser struct {
	ctx               context.Context
	mu                sync.Mutex
	problems, dialogs []string
}

// newBrowser starts Chromium for t, or skips t when there is none.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		// Looked for chromium, chromium-browser and google-chrome in PATH.
		testkit.SkipFor(t, "Chromium", "apt-get install chromium (Debian)")
	}
	tctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(tctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	b := &browser{ctx: bctx}

	// Accept every confirm(), and collect script errors and console
	// messages of level error or warning, which is where the browser
	// reports CSP violations.
	dialogEvents := chromedp.Events(bctx, page.JavascriptDialogOpening)
	console := chromedp.Console(bctx)
	go func() {
		for ev, err := range dialogEvents {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			_, _ = chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// seen returns the problems reported and the dialogs accepted so far.
func (b *browser) seen() (problems, dialogs []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.problems), slices.Clone(b.dialogs)
}

func findByName(t *testing.T, e *env, name string) apikey.Key {
	t.Helper()
	page, err := e.Keys.List(context.Background(), apikey.ListOptions{Limit: apikey.MaxListLimit})
	require.NoError(t, err)
	for _, k := range page.Keys {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no key named %q", name)
	return apikey.Key{}
}

// TestBrowserOwnKeyAndCascade: signed in with the only admin key, the page
// marks it and offers no way to disable or delete it, until another admin
// key exists; disabling a key shows the keys it made and disables them
// with it; rotating the page's own key keeps the page signed in.
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
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(b.ctx, steps...), what)
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+fmt.Sprintf("%q", sel)+`).length`))
		require.NoError(t, err, sel)
		return n
	}
	row := func(id string) string { return `#rows tr[data-id="` + id + `"]` }

	do("unlock with the only admin key",
		chromedp.Navigate(e.Srv.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.ID("login-key")),
		chromedp.SendKeys(chromedp.ID("login-key"), admin1),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(row(admin1ID)+" .you")),
	)
	assert.Equal(t, 0, count(row(admin1ID)+` button[data-action=toggle]`), "no Disable on the last admin key")
	assert.Equal(t, 0, count(row(admin1ID)+` button[data-action=delete]`), "no Delete on the last admin key")
	assert.Equal(t, 1, count(row(admin1ID)+` .note`))
	assert.Equal(t, 1, count(row(admin1ID)+` button[data-action=rotate]`))
	assert.Equal(t, 1, count(".you"), "only the page's own key is marked")
	assert.Equal(t, 1, count(row(leakedID)+` button[data-action=delete]`))

	do("disable the leaked key, and what it made",
		chromedp.Click(chromedp.CSS(row(leakedID)+` button[data-action=toggle]`)),
		chromedp.WaitVisible(chromedp.CSS(row(leakedID)+` .state-disabled`)),
		chromedp.WaitVisible(chromedp.CSS(row(minted.Key.ID)+` .state-disabled`)),
	)
	assert.Equal(t, 401, e.Do("GET", "/", leaked, "").Status)
	assert.Equal(t, 401, e.Do("GET", "/", minted.Plaintext, "").Status, "the key the leak made is disabled with it")

	do("create a second admin key",
		chromedp.Click(chromedp.CSS("#create-box summary")),
		chromedp.SendKeys(chromedp.CSS(`#create-form input[name=name]`), "second admin"),
		chromedp.SendKeys(chromedp.CSS(`#create-form input[name=scopes]`), "admin"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
		chromedp.WaitVisible(chromedp.CSS(row(admin1ID)+` button[data-action=delete]`)),
	)
	assert.Equal(t, 1, count(row(admin1ID)+` button[data-action=toggle]`), "no longer the last admin key")
	assert.Equal(t, 0, count(row(admin1ID)+` .note`))

	do("rotate the page's own key",
		chromedp.Click(chromedp.ID("secret-done")),
		chromedp.Click(chromedp.CSS(row(admin1ID)+` button[data-action=rotate]`)),
		chromedp.WaitVisible(chromedp.ID("secret")),
		chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](`document.querySelectorAll("#rows tr .you").length === 1 &&
				!document.querySelector(`+fmt.Sprintf("%q", row(admin1ID)+" .you")+`)`)(ctx, t)
			return chromedp.Void{}, err
		}),
	)
	old, err := e.Keys.Get(ctx, admin1ID)
	require.NoError(t, err)
	require.NotEmpty(t, old.RotatedTo)
	assert.Equal(t, 1, count(row(old.RotatedTo)+" .you"), "the page goes on with the new key")

	problems, dialogs := b.seen()
	assert.Empty(t, problems, "script errors, warnings or CSP violations")
	require.Len(t, dialogs, 2, "a confirm before the cascade and before the rotation")
	assert.Contains(t, dialogs[0], `Disable "leaked"`)
	assert.Contains(t, dialogs[0], `"made by the leak" (`+minted.Key.Start+`…), alice`)
	assert.Contains(t, dialogs[1], `Rotate "root"`)
}
