// Package blocks owns what Kinetic shows in Slack and reads back from it:
// the Block Kit for status cards, thread replies, plan previews, approval
// cards, alerts, modals and the Home tab, and the parsers for what Slack
// sends (button values, modal submissions, slash command text).
//
// Everything here is pure: no I/O, no clock (callers pass now), no
// logging, so the Slack transport in bot/slackbot answers Slack at once and
// hands the work to a job. Message builders return the blocks together with
// a plain-text fallback used for notifications and screen readers.
//
// Data from people and downstream systems (names, reasons, connector
// errors) is escaped, so it can never become a mention such as <!channel>
// or a link, and clipped to Block Kit's limits: 50 blocks per message and
// 100 per modal or Home tab, 3000 characters per section text, 10 fields of
// 2000 characters per section, 150 per header, 75 per button label, 10
// elements per context block, 24 for a modal's title and buttons.
//
// Buttons carry only an id ("case:42", "approval:7", "action:913", see
// ParseValue); the handler reloads what it needs. Action ids and modal
// callback ids are the constants in ids.go. A message whose question has
// been answered is rebuilt without its buttons, so no stale button stays
// clickable.
package blocks
