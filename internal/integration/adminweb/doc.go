// Package adminweb holds the tests of package admin that need a browser
// (Debian's Chromium, through chromedp), a router (chi) or a database
// driver: they live in a module of their own, so the core module requires
// none of them. It has no code.
package adminweb
