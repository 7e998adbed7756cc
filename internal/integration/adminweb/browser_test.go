package adminweb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-apikey/apikey/internal/testkit"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/go-apikey/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The page's tests drive the admin page in headless Chromium as a person
// would: click, type, choose, read what the page shows. This file holds
// the browser and what the tests share; page_test.go the tests.

// findChromium returns the path of a Chromium or Chrome binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium showing one tab, which collects what
// the page reports as problems and any native dialog (alert, confirm),
// which the page no longer uses.
type browser struct {
	t                 *testing.T
	ctx               context.Context
	mu                sync.Mutex
	problems, dialogs []string
}

// newBrowser starts Chromium for t with a 1280 x 800 viewport, or skips t
// when there is none.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		// Looked for chromium, chromium-browser and google-chrome in PATH.
		testkit.SkipFor(t, "Chromium", "apt-get install chromium (Debian)")
	}
	tctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
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
	b := &browser{t: t, ctx: bctx}

	// Accept any native dialog, and collect script errors and console
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
	b.do("set the viewport", chromedp.EmulateViewport(1280, 800))
	return b
}

// seen returns the problems reported and the native dialogs seen so far.
func (b *browser) seen() (problems, dialogs []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.problems), slices.Clone(b.dialogs)
}

// clean checks that the page reported no script error, warning or CSP
// violation, opened no native dialog, and kept nothing in storage. The
// browser reports each API answer with an error status on the console
// too: the test names those it caused (a key deleted behind the page's
// back: 404).
func (b *browser) clean(statuses ...int) {
	b.t.Helper()
	problems, dialogs := b.seen()
	problems = slices.DeleteFunc(problems, func(p string) bool {
		for _, s := range statuses {
			if p == fmt.Sprintf("error: Failed to load resource: the server responded with a status of %d (%s)", s, http.StatusText(s)) {
				return true
			}
		}
		return false
	})
	assert.Empty(b.t, problems, "script errors, warnings or CSP violations")
	assert.Empty(b.t, dialogs, "native dialogs: the page asks in its own")
	assert.Equal(b.t, `[0,0,""]`, jsValue[string](b, `JSON.stringify([localStorage.length, sessionStorage.length, document.cookie])`),
		"nothing kept in storage or cookies")
}

// stepTimeout bounds each step, so a test waiting for what never shows
// fails in seconds, not at the browser's deadline.
const stepTimeout = 30 * time.Second

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...), what)
}

// jsValue evaluates expr in the page (awaiting a promise) and returns
// its value.
func jsValue[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, expr)
	return v
}

// until waits for expr to be true in the page.
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", expr, err)
		}
		return nil
	})
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// choose picks the option value of the select sel, as a person picking
// it from the list does: the select changes and says so.
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](`(() => {
			const s = document.querySelector(`+js(sel)+`);
			if (!s || ![...s.options].some(o => o.value === `+js(value)+`)) return false;
			s.focus();
			s.value = `+js(value)+`;
			s.dispatchEvent(new Event("input", {bubbles: true}));
			s.dispatchEvent(new Event("change", {bubbles: true}));
			return true;
		})()`)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("no option %q in %s", value, sel)
		}
		return err
	})
}

// fill replaces the text of the input or textarea sel by typing text.
func fill(sel, text string) chromedp.Action[chromedp.Void] {
	clear := chromedp.Evaluate[chromedp.Void](`(e => { e.focus(); e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); })(document.querySelector(` + js(sel) + `))`)
	if text == "" {
		return clear
	}
	return chromedp.Steps(clear, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// setValue sets a control that cannot be typed into portably (a date
// picker), with the events a person's choice fires.
func setValue(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(e => { e.focus(); e.value = ` + js(value) + `;
		e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })(document.querySelector(` + js(sel) + `))`)
}

// focusedLabel returns the aria-label of the element with the focus.
func (b *browser) focusedLabel() string {
	b.t.Helper()
	return jsValue[string](b, `document.activeElement.getAttribute("aria-label") || ""`)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return jsValue[string](b, `(e => e ? e.textContent : "<missing "+`+js(sel)+`+">")(document.querySelector(`+js(sel)+`))`)
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	return jsValue[int](b, `document.querySelectorAll(`+js(sel)+`).length`)
}

// focused describes the element with the focus: its id, or its tag and
// aria-label.
func (b *browser) focused() string {
	b.t.Helper()
	return jsValue[string](b, `(e => e.id || (e.tagName.toLowerCase() + (e.getAttribute("aria-label") ? " " + e.getAttribute("aria-label") : " " + e.textContent)))(document.activeElement)`)
}

// unlock opens the page at url and unlocks it with key.
func (b *browser) unlock(url, key string) {
	b.t.Helper()
	b.do("open the page and unlock it",
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("login-key")),
		chromedp.SendKeys(chromedp.ID("login-key"), key),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
}

// confirmDialog waits for the page's confirmation dialog and returns its
// title and text.
func (b *browser) confirmDialog() (title, body string) {
	b.t.Helper()
	b.do("the dialog opens", until(`document.getElementById("confirm").open`))
	return b.text("#confirm-title"), b.text("#confirm-body")
}

// answer presses the dialog's button (confirm-ok or confirm-cancel) and
// waits for the dialog to close.
func (b *browser) answer(button string) {
	b.t.Helper()
	b.do("answer the dialog", chromedp.Click(chromedp.ID(button)), until(`!document.getElementById("confirm").open`))
}

func rowSel(id string) string { return `#rows tr[data-id="` + id + `"]` }

// axe runs axe-core (vendored in testdata/axe) on the page as it is now
// and fails on critical or serious violations. The script is evaluated
// through the DevTools protocol, which the page's CSP does not govern:
// the page itself still loads nothing but its own files.
func (b *browser) axe(what string) {
	b.t.Helper()
	if !jsValue[bool](b, `typeof axe !== "undefined"`) {
		src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
		require.NoError(b.t, err)
		_, err = chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](string(src)))
		require.NoError(b.t, err, "load axe-core")
	}
	type violation struct {
		ID, Impact, Help string
		Nodes            []string
	}
	found := jsValue[[]violation](b, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v =>
		({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))})))`)
	for _, v := range found {
		msg := fmt.Sprintf("axe, %s: %s (%s): %s, at %s", what, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "; "))
		if v.Impact == "critical" || v.Impact == "serious" {
			b.t.Error(msg)
		} else {
			b.t.Log(msg)
		}
	}
}

// shoot saves what the viewport shows as name, in the test's temporary
// directory, and in docs/ when APIKEY_SCREENSHOTS=1 (the README shows
// those: run the tests with it after changing the page, and commit them).
func (b *browser) shoot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	require.NoError(b.t, err, name)
	dir := b.t.TempDir()
	if os.Getenv("APIKEY_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "..", "docs")
	}
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name), buf, 0o644))
	b.t.Logf("screenshot %s (%d KB)", filepath.Join(dir, name), len(buf)/1024)
}

// phone sets the viewport of a 390 px phone held upright (newBrowser's
// is a 1280 px desktop).
func phone() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Sleep(100*time.Millisecond))
}

// layout is what the page measures of itself at one width.
type layout struct {
	Width, ScrollWidth int
	Overflowing        []string // elements past either edge
	Rows               []float64
	Hidden             []string // row buttons that are not shown
}

func (b *browser) layout() layout {
	b.t.Helper()
	return jsValue[layout](b, `(() => {
		const w = document.documentElement.clientWidth;
		const over = [];
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (r.width > 0 && el.closest("dialog") === null && (r.right > w + 1 || r.left < -1))
				over.push(el.tagName + "#" + el.id + "." + el.className + " " + Math.round(r.left) + ".." + Math.round(r.right));
		}
		const rows = [...document.querySelectorAll("#rows tr")].map(tr => tr.getBoundingClientRect().height);
		const hidden = [...document.querySelectorAll("#rows button")].filter(b => b.getBoundingClientRect().width === 0).map(b => b.getAttribute("aria-label"));
		return {width: w, scrollWidth: document.documentElement.scrollWidth, overflowing: over, rows, hidden};
	})()`)
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

// usage returns the terms and values of a key's usage section, or of an
// owner's policy.
func (b *browser) usage() [][]string {
	b.t.Helper()
	return jsValue[[][]string](b, `[...document.querySelectorAll("#usage-fields > div, #owner-fields-list > div")].map(d => [d.querySelector("dt").textContent, d.querySelector("dd").textContent])`)
}
