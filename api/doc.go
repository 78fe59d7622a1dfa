// Package api is the updater's HTTP API and the host of its page: what
// the Better-PaaS dashboard (Settings → Software Updates) and anyone's
// scripts use to see the host's state, check for releases, and ask for an
// update, a retry or a rollback. It is one more writer of desired.yaml,
// through the same code as the CLI (internal/desired); the daemon's loop
// does the work.
//
// New builds the http.Handler; Listen opens the listener api.listen names
// (loopback by default, or a unix socket of mode 0660); Serve serves until
// its context ends.
//
// Every request is checked before anything is done, in this order:
//
//  1. Host must be loopback, the listen address, or one of api.hosts,
//     else 403 forbidden_host (DNS rebinding).
//  2. Under /api/ and at /metrics, a state-changing request (POST) with an Origin header
//     must come from the API's own origin or one of api.origins, else 403
//     forbidden_origin. Only api.origins get CORS headers.
//  3. A client (an IP address; all of a unix socket's clients are one)
//     that sent 10 wrong tokens within the last minute gets 429
//     rate_limited with Retry-After, whatever it sends, the right token
//     included, until the first of them is a minute old.
//  4. Under /api/ and at /metrics, "Authorization: Bearer <token>" must carry the token
//     of `better-paas-updater token create`, else 401 unauthorized.
//
// /healthz answers without a token; /metrics is the Prometheus exporter
// (Options.Metrics), behind the token; / and /assets/ are the page
// (Options.Page). Every error is JSON:
// {"error":{"code":"<stable code>","message":"<plain words naming the fix>"}}.
package api
