// Package teams is the root of Kinetic's Microsoft Teams front end. The
// foundation is these packages:
//
//   - botauth validates the bearer JWT of every inbound Bot Framework
//     activity (signature against the OpenID metadata's keys, issuer,
//     audience, expiry, the serviceurl claim) before anything else runs;
//   - connector is a small typed Bot Connector REST client (send, reply,
//     update, create a 1:1 conversation) with a client-credentials token;
//   - appcred is the app's credential for that token (and Graph's): a
//     client secret, or a certificate signing a client assertion;
//   - graph reads Microsoft Graph (users' emails, Entra group members);
//   - teamstest holds the test doubles: a fake Bot Connector service, a
//     token issuer with its own OpenID metadata and RSA keys, a fake Graph,
//     and app certificates whose assertions the fakes' token endpoints
//     verify as Entra ID does.
//
// Card builders live in teams/cards. The front end built on all of them
// (the /teams/messages endpoint, commands, invokes, the notifier) is
// bot/teamsapp; internal/app mounts it when chat.teams is configured.
//
// # Library choice
//
// github.com/infracloudio/msbotbuilder-go was evaluated (issue 15, item 8)
// and not used. The module proxy reachable here refuses it (`go list -m
// -versions` answers 403), its forks on pkg.go.dev are the only recent
// activity (the upstream's last release is years old), and it covers
// neither the serviceurl claim check against the activity's serviceUrl,
// single-tenant Entra-issued tokens, nor Universal Actions
// (Action.Execute / adaptiveCard/action invokes). What Kinetic needs is a
// handful of REST calls and one token check, so it has its own small typed
// client; JWT/JWKS handling is github.com/go-jose/go-jose/v4 (not hand-rolled).
//
// References:
//   - Authentication: https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-authentication
//   - REST API: https://learn.microsoft.com/en-us/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference
//   - Certificate credentials: https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
package teams
