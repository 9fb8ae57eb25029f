// Package slackbot is the transport layer of Kinetic's Slack front end: it
// receives slash commands, interactions (buttons, modal submissions) and
// Events API callbacks from Slack, proves that they come from Slack, and hands
// them to a Handlers implementation that turns them into engine requests.
//
// It is named slackbot, not slack, so that callers can import it next to
// github.com/slack-go/slack without renaming either; the folder bears the
// same name.
//
// Two transports deliver the same payloads to the same Handlers:
//
//   - HTTP (Config.Mode "http", the default): Routes mounts POST
//     /slack/commands, /slack/interactions and /slack/events on the server
//     that `kinetic serve` runs. Every request is checked by a Verifier
//     (Slack's v0 HMAC-SHA256 signing scheme, a 5-minute window and a replay
//     cache) before it is parsed; only Slack's ssl_check probe, which
//     carries nothing to act on, is answered unverified.
//   - Socket Mode (Config.Mode "socket"): RunSocketMode opens a WebSocket to
//     Slack with the app-level token, so no public URL is needed. Slack
//     authenticates the connection, so there is no per-request signature;
//     every envelope is acknowledged.
//
// Slack gives an app 3 seconds to answer. Handlers are called with a context
// whose deadline is DefaultBudget (2.5 s) after the request arrived and must
// do no work in the callback: validate, enqueue a job, return a Response. If a
// handler overruns, the transport answers anyway and discards the late
// Response.
package slackbot
