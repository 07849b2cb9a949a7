// Package dashboard serves switchhook's web dashboard: live calls and
// registrations, call timelines with every delivery attempt, endpoint
// management with health charts, and an overview of the last hour. The
// pages are plain HTML, CSS and JavaScript modules embedded in the binary,
// with no build step and nothing loaded from another host; they call the
// management API under /v1 for everything, so no logic is duplicated here.
// What this package adds is the browser's way in: a sign-in page that trades
// the admin token for a session cookie (kept in memory, with a CSRF token),
// which the API accepts through Sessions.
package dashboard
