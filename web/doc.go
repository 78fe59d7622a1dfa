// Package web is the Software Updates page (Settings → Software Updates):
// one HTML document, a script, a stylesheet and an icon, compiled into the
// binary (the go:embed directive of web.go) and served by Handler at "/"
// and "/assets/...".
//
// The page holds no data. Everything it shows it asks of the daemon's API
// (package api, under /api/v1) with the token the user pastes into its
// prompt, kept in sessionStorage and sent as "Authorization: Bearer", never
// as a cookie; live progress comes from /api/v1/events, read as a
// text/event-stream over fetch so the request can carry that header, and
// resumed after a reconnect with Last-Event-ID. All URLs in the page are
// relative, so the page also works behind a reverse proxy that mounts the
// updater under a path prefix.
//
// Nothing is loaded from elsewhere: no CDN, no web fonts, no inline script
// or style, so the page runs under the strict Content-Security-Policy
// Handler sends (default-src 'self') and works offline. Release notes
// (markdown from GitHub) are rendered by building DOM nodes from escaped
// text, never through innerHTML.
//
// browser_test.go drives the page in Debian's headless Chromium against a
// real daemon updating the example app.
package web
