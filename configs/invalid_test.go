package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clearEnv keeps the environment overrides of the machine running the tests
// out of them.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{EnvHTTPAddr, EnvDatabaseDSN, EnvRedisAddr} {
		t.Setenv(k, "")
	}
}

// TestInvalidConfigs loads every file under testdata/invalid: service-*.yaml
// with Load, policy-*.yaml with LoadPolicy against the embedded default
// service (whose connectors are the sandbox instances). Each must fail with
// every expected message, each naming file, line and key.
func TestInvalidConfigs(t *testing.T) {
	clearEnv(t)
	t.Setenv("KINETIC_TEST_UNSET_TOKEN", "")
	os.Unsetenv("KINETIC_TEST_UNSET_TOKEN")
	t.Setenv("KINETIC_TEST_WEBHOOK_TOKEN", "wh-SECRET-token-9f3a")
	t.Setenv("KINETIC_TEST_GRAPH_SECRET", "graph-SECRET-7c1e")
	t.Setenv("KINETIC_TEST_OKTA_TOKEN", "okta-SECRET-00b4")
	t.Setenv("KINETIC_TEST_AD_PASSWORD", "ad-SECRET-5d2f")
	def, err := defaultT()
	if err != nil {
		t.Fatal(err)
	}
	const dir = "testdata/invalid/"
	cases := map[string]struct {
		want    []string
		notWant []string // e.g. a secret's value
	}{
		"service-unknown-key.yaml": {want: []string{
			dir + `service-unknown-key.yaml:1: htp: unknown key "htp" (known keys: admins,`,
		}},
		"service-routing.yaml": {want: []string{
			dir + `service-routing.yaml:10: chat.slack.alerts_channel: C0ALERTS1 disagrees with routing.security-alerts.slack.channel (C0OTHER01)`,
			dir + `service-routing.yaml:16: routing.it-identity.slack.channel: "#it-identity" is a channel name; use the channel ID`,
			dir + `service-routing.yaml:17: routing.it-identity.slack.user_group: "U0123" is not a Slack user group id`,
			dir + `service-routing.yaml:18: routing.it-identity.slack.people[0]: "" is not an HR employee id`,
			dir + `service-routing.yaml:18: routing.it-identity.slack.people[1]: "E 1" is not an HR employee id`,
			dir + `service-routing.yaml:20: routing.network.slack: set channel, user_group or people`,
			dir + `service-routing.yaml:20: routing.network.slack.chanel: unknown key "chanel" (known keys: channel, people, user_group)`,
			dir + `service-routing.yaml:22: routing.empty.slack: set channel, user_group or people`,
			dir + `service-routing.yaml:26: connectors.ad.owner: team "it-identty" has no route: add routing.it-identty`,
		}},
		"service-synced-from.yaml": {want: []string{
			dir + `service-synced-from.yaml:15: connectors.okta.synced_from: "adds" is not a configured connector instance (configured: a, ad, b, m365, okta, vpn)`,
			dir + `service-synced-from.yaml:19: connectors.vpn.synced_from: an instance cannot be synced from itself`,
			dir + `service-synced-from.yaml:23: connectors.a.synced_from: synced_from loops: a -> b -> a`,
			dir + `service-synced-from.yaml:27: connectors.b.synced_from: synced_from loops: b -> a -> b`,
		}},
		"service-routing-teams.yaml": {want: []string{
			dir + `service-routing-teams.yaml:10: chat.teams.alerts_conversation: 19:alerts@thread.tacv2 disagrees with routing.security-alerts.teams.conversation (19:other@thread.tacv2)`,
			dir + `service-routing-teams.yaml:16: routing.it-identity.teams.conversation: "#it-identity" is not a Teams channel conversation id`,
			dir + `service-routing-teams.yaml:17: routing.it-identity.teams.people[0]: "" is not an HR employee id`,
			dir + `service-routing-teams.yaml:17: routing.it-identity.teams.people[1]: "E 1" is not an HR employee id`,
			dir + `service-routing-teams.yaml:19: routing.network.teams: set conversation or people`,
			dir + `service-routing-teams.yaml:19: routing.network.teams.conversaton: unknown key "conversaton" (known keys: conversation, people)`,
			dir + `service-routing-teams.yaml:21: routing.empty.teams: set conversation or people`,
		}},
		"service-unknown-connector-key.yaml": {want: []string{
			dir + `service-unknown-connector-key.yaml:7: connectors.ad.retries: unknown key "retries" (known keys: `,
			dir + `service-unknown-connector-key.yaml:10: connectors.ad.sandbox.latencyy: unknown key "latencyy" (known keys: error_rate, jitter, latency, rate_limit, system, url)`,
		}},
		"service-inline-secret.yaml": {
			want:    []string{dir + `service-inline-secret.yaml:3: http.api_tokens.hris: inline secrets are not allowed: use {env: NAME} or {file: PATH}`},
			notWant: []string{"s3cr3t-inline-value"},
		},
		"service-api-clients.yaml": {
			want: []string{
				dir + `service-api-clients.yaml:5: http.api_clients.ticketing.scopes[1]: unknown scope "cases:delete" (known: cases:create, cases:read, cases:cancel, approvals:decide, actions:operate, batches:decide, audit:read, queues:operate)`,
				dir + `service-api-clients.yaml:5: http.api_clients.ticketing.scopes[3]: scope "cases:create" is listed twice`,
				dir + `service-api-clients.yaml:6: http.api_clients.ticketing.act_as[1]: unknown role "role:ceo" (known: role:hr, role:manager, role:admin)`,
				dir + `service-api-clients.yaml:6: http.api_clients.ticketing.act_as[2]: "*" (act for anyone) needs trusted_front_end: true`,
				dir + `service-api-clients.yaml:6: http.api_clients.ticketing.act_as[3]: "M 1" is not an HR id`,
				dir + `service-api-clients.yaml:7: http.api_clients.portal.token: token needs {env: NAME} or {file: PATH}`,
				dir + `service-api-clients.yaml:11: http.api_clients.portal.sso: unknown key "sso" (known keys: act_as, scopes, token, trusted_front_end)`,
				dir + `service-api-clients.yaml:12: http.api_clients.twin: client "twin" is also in http.api_tokens`,
				dir + `service-api-clients.yaml:13: http.api_clients.twin.token: same token as client "ticketing"`,
			},
			notWant: []string{"wh-SECRET-token-9f3a", "okta-SECRET-00b4"},
		},
		"service-http-limits.yaml": {
			want: []string{
				dir + `service-http-limits.yaml:3: http.metrics_addr: is http.addr; leave it out to serve /metrics there`,
				dir + `service-http-limits.yaml:4: http.metrics_token: inline secrets are not allowed: use {env: NAME} or {file: PATH}`,
				dir + `service-http-limits.yaml:5: http.read_header_timeout: 20s is longer than read_timeout (15s), which includes the headers`,
				dir + `service-http-limits.yaml:7: http.write_timeout: 1s is too short for the API's answers (at least 5s)`,
				dir + `service-http-limits.yaml:8: http.idle_timeout: `,
				dir + `service-http-limits.yaml:10: http.max_connections_per_client: 11 is more than max_connections (10)`,
				dir + `service-http-limits.yaml:11: http.max_conns: unknown key "max_conns" (known keys: addr, api_clients, api_tokens, idle_timeout, max_connections, max_connections_per_client, metrics_addr, metrics_token, read_header_timeout, read_timeout, write_timeout)`,
				dir + `service-http-limits.yaml:13: http.api_tokens.a-client-name-that-is-much-too-long-to-be-a-principal-in-the-audit-trail: a client name is at most 64 characters`,
			},
			notWant: []string{"s3cr3t-metrics-inline"},
		},
		"service-missing-env.yaml": {want: []string{
			dir + `service-missing-env.yaml:3: http.api_tokens.hris: environment variable KINETIC_TEST_UNSET_TOKEN is not set`,
		}},
		"service-unknown-type.yaml": {want: []string{
			dir + `service-unknown-type.yaml:6: connectors.ad.type: unknown connector type "active-directory" (known: sandbox, webhook, ldap, graph, okta`,
			dir + `service-unknown-type.yaml:7: connectors.ad.sandbox: a sandbox block does not belong in an instance of type "active-directory"`,
		}},
		"service-missing-block.yaml": {want: []string{
			dir + `service-missing-block.yaml:5: connectors.ad: type sandbox needs a sandbox: block`,
			dir + `service-missing-block.yaml:7: connectors.ad.rate_limit.requests: must be greater than 0`,
		}},
		"service-bad-duration.yaml": {want: []string{
			dir + `service-bad-duration.yaml:5: workers.lease: invalid duration "15 minutes"`,
			dir + `service-bad-duration.yaml:9: connectors.ad.timeout: invalid duration "30"`,
		}},
		"service-bad-cidr.yaml": {
			want:    []string{dir + `service-bad-cidr.yaml:7: outbound.allow_cidrs[1]: "10.0.0.0/33" is not a CIDR`},
			notWant: []string{"allow_cidrs[0]"},
		},
		"service-missing-policy.yaml": {want: []string{
			dir + `service-missing-policy.yaml:3: policy: policy file: testdata/min/absent.yaml: no such file or directory`,
			dir + `service-missing-policy.yaml:5: directory.file: testdata/invalid/absent.csv: no such file or directory`,
		}},
		"service-approver-groups.yaml": {want: []string{
			dir + `service-approver-groups.yaml:5: approver_groups.legal[2]: unknown member reference "teams:abc"`,
			dir + `service-approver-groups.yaml:5: approver_groups.legal[3]: "slack:legal-team" is not a Slack user group id`,
		}, notWant: []string{"legal[0]", "legal[1]"}},
		"service-many.yaml": {want: []string{
			dir + `service-many.yaml:3: database.driver: unknown driver "mysql"`,
			dir + `service-many.yaml:4: redis: set one of embedded: true, addr, sentinel or cluster, not 2 ([embedded addr])`,
			dir + "service-many.yaml:9: workers.concurrency: cannot unmarshal !!str `many` into int",
			dir + `service-many.yaml:10: workers.lease: invalid duration "soon"`,
			dir + `service-many.yaml:14: connectors.ad.sandbox.system: unknown system "active-directory"`,
			dir + `service-many.yaml:14: connectors.ad.sandbox.error_rate: error_rate must be between 0 and 1`,
			dir + `service-many.yaml:16: connectors.zendesk.type: unknown connector type "zendesk"`,
			dir + `service-many.yaml:18: log.levle: unknown key "levle"`,
		}},
		"service-sandbox-url.yaml": {want: []string{
			dir + `service-sandbox-url.yaml:11: connectors.ad.sandbox.url: outbound URL refused by policy: http://127.0.0.1:8700/: host resolves to 127.0.0.1 (loopback); add it to outbound.allow_cidrs to allow`,
			dir + `service-sandbox-url.yaml:12: connectors.ad.sandbox.latency: latency must not be set with url: the sandbox server sets latency, errors and limits on its instance`,
			dir + `service-sandbox-url.yaml:13: connectors.ad.sandbox.rate_limit: rate_limit must not be set with url: the sandbox server sets latency, errors and limits on its instance`,
			dir + `service-sandbox-url.yaml:18: connectors.vpn.sandbox.url: url must use http or https (got scheme "ftp")`,
		}},
		"service-webhook-metadata.yaml": {want: []string{
			dir + `service-webhook-metadata.yaml:11: connectors.badges.webhook.base_url: outbound URL refused by policy: http://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata); add it to outbound.allow_cidrs to allow`,
		}},
		"service-webhook-template.yaml": {want: []string{
			dir + `service-webhook-template.yaml:13: connectors.badges.webhook.lookup.path: template: path:1: unclosed action`,
			dir + `service-webhook-template.yaml:17: connectors.badges.webhook.operations.deactivate_badge.path: template: path:1:10: executing "path" at <.Acount>: can't evaluate field Acount`,
			dir + `service-webhook-template.yaml:18: connectors.badges.webhook.operations.deactivate_badge.body: body:1:12: {{.DisplayName}} prints a value without json`,
		}},
		"service-webhook-auth.yaml": {
			want:    []string{dir + `service-webhook-auth.yaml:12: connectors.badges.webhook.auth: set exactly one of bearer, basic or header (found bearer and basic)`},
			notWant: []string{"wh-SECRET-token-9f3a"},
		},
		"service-webhook-operation.yaml": {want: []string{
			dir + `service-webhook-operation.yaml:15: connectors.badges.webhook.operations.badge_off: unknown operation "badge_off" (known: convert_mailbox, create_recovery_task, deactivate_badge,`,
		}},
		"service-graph-auth.yaml": {
			want:    []string{dir + `service-graph-auth.yaml:15: connectors.entra.graph.client_secret: client_secret and certificate_file are alternatives: set one of them`},
			notWant: []string{"graph-SECRET-7c1e"},
		},
		"service-graph-unknown-key.yaml": {want: []string{
			dir + `service-graph-unknown-key.yaml:14: connectors.entra.graph.keep_group: unknown key "keep_group" (known keys: authority_url, batch, certificate_file, client_id, client_secret, ediscovery_case_id, graph_url, keep_groups, private_key_file, sharepoint_url, tenant_id, timeout)`,
		}},
		"service-equipment.yaml": {
			want: []string{
				dir + `service-equipment.yaml:14: connectors.snipe.snipeit.url: must be Snipe-IT's base address without a path`,
				dir + `service-equipment.yaml:18: connectors.snipe.snipeit.status_labels.shipped: not an equipment state`,
				dir + `service-equipment.yaml:21: connectors.intune-mdm.intune: tenant_id is required`,
				dir + `service-equipment.yaml:30: connectors.jamf-mdm.jamf.match_by: "serial" is not one of email, username`,
			},
			notWant: []string{"wh-SECRET-token-9f3a", "graph-SECRET-7c1e", "okta-SECRET-00b4"},
		},
		"service-okta-auth.yaml": {
			want:    []string{dir + `service-okta-auth.yaml:14: connectors.okta-prod.okta.api_token: set only one of api_token and oauth`},
			notWant: []string{"okta-SECRET-00b4"},
		},
		"service-itsm.yaml": {
			want: []string{
				dir + `service-itsm.yaml:13: connectors.snow.servicenow.instance_url: instance_url must be the instance alone, without path or query`,
				dir + `service-itsm.yaml:14: connectors.snow.servicenow.password: username is required with password`,
				dir + `service-itsm.yaml:16: connectors.snow.servicenow.states.closed: states.closed "Resolved" is not a state value`,
				dir + `service-itsm.yaml:21: connectors.tickets.jira.email: email "kinetic" is not an email address`,
				dir + `service-itsm.yaml:23: connectors.tickets.jira.project: project "it ops" is not a project key`,
			},
			notWant: []string{"okta-SECRET-00b4"},
		},
		"service-okta-oauth.yaml": {want: []string{
			dir + `service-okta-oauth.yaml:15: connectors.okta-prod.okta.oauth: oauth.client_id is required`,
			dir + `service-okta-oauth.yaml:16: connectors.okta-prod.okta.oauth.private_key_file: testdata/invalid/okta-absent.pem: no such file or directory`,
			dir + `service-okta-oauth.yaml:17: connectors.okta-prod.okta.oauth.scopes: oauth.scopes must include okta.users.manage`,
			dir + `service-okta-oauth.yaml:17: connectors.okta-prod.okta.oauth.scopes[1]: "okta users" is not a scope name`,
		}},
		"service-okta-metadata.yaml": {want: []string{
			dir + `service-okta-metadata.yaml:11: connectors.okta-prod.okta.org_url: outbound URL refused by policy: https://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata); add it to outbound.allow_cidrs to allow`,
		}},
		"service-okta-unknown-key.yaml": {want: []string{
			dir + `service-okta-unknown-key.yaml:13: connectors.okta-prod.okta.deactivate: unknown key "deactivate" (known keys: api_token, deactivate_mode, keep_groups, max_concurrency, max_rate_wait, oauth, org_url, timeout)`,
		}},
		"service-ldap-plain.yaml": {
			want:    []string{dir + `service-ldap-plain.yaml:12: connectors.ad-corp.ldap.url: plain ldap:// would send the bind password in clear text: use ldaps://, set start_tls: true, or set allow_insecure_plain_ldap: true`},
			notWant: []string{"ad-SECRET-5d2f"},
		},
		// The policy checks an LDAP server's host (as https://host:port/,
		// since it accepts only http and https) but names it as written.
		"service-ldap-private.yaml": {want: []string{
			dir + `service-ldap-private.yaml:12: connectors.ad-corp.ldap.url: outbound URL refused by policy: ldaps://10.1.2.3:636/: host resolves to 10.1.2.3 (private); add it to outbound.allow_cidrs to allow`,
			dir + `service-ldap-private.yaml:16: connectors.ad-corp.ldap.disable: disable.attribute: "" is not an attribute name`,
			dir + `service-ldap-private.yaml:16: connectors.ad-corp.ldap.disable: disable.value is required with mode attribute`,
		}},
		"service-ldap-unknown-key.yaml": {want: []string{
			dir + `service-ldap-unknown-key.yaml:15: connectors.ad-corp.ldap.disabled_uo: unknown key "disabled_uo" (known keys: allow_insecure_plain_ldap, base_dn, bind_dn, bind_password, ca_file, disable, disabled_ou, keep_groups, match_attribute, match_field, reset_password, server_name, start_tls, timeout, url, user_filter)`,
		}},
		// Issue 12, item 8: configuration refuses the unsafe.
		"service-allow-everything.yaml": {want: []string{
			dir + `service-allow-everything.yaml:7: outbound.allow_cidrs[0]: 0.0.0.0/0 covers too much of the address space: an IPv4 entry must be /8 or longer`,
			dir + `service-allow-everything.yaml:7: outbound.allow_cidrs[1]: ::/0 covers too much of the address space: an IPv6 entry must be /16 or longer`,
			dir + `service-allow-everything.yaml:15: connectors.badges.webhook.base_url: outbound URL refused by policy: http://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata)`,
		}},
		"service-allow-metadata.yaml": {want: []string{
			dir + `service-allow-metadata.yaml:9: outbound.allow_cidrs[1]: 169.254.169.254/32 is inside 169.254.0.0/16, link-local and the cloud metadata endpoint 169.254.169.254, which no allowlist may open`,
			dir + `service-allow-metadata.yaml:10: outbound.allow_cidrs[2]: 169.254.0.0/15 overlaps 169.254.0.0/16`,
			dir + `service-allow-metadata.yaml:11: outbound.allow_cidrs[3]: fd00:ec2::/32 overlaps fd00:ec2::254, the AWS IPv6 metadata endpoint`,
			dir + `service-allow-metadata.yaml:12: outbound.allow_cidrs[4]: ::ffff:169.254.0.0/112 (IPv4-mapped of 169.254.0.0/16) is inside 169.254.0.0/16`,
			dir + `service-allow-metadata.yaml:13: outbound.allow_cidrs[5]: 2002:a9fe::/32 (6to4 of 169.254.0.0/16) is inside 169.254.0.0/16`,
			dir + `service-allow-metadata.yaml:15: outbound.allow_hosts[0]: "metadata.google.internal" is the cloud metadata service, which no allowlist may open`,
			dir + `service-allow-metadata.yaml:16: outbound.allow_hosts[1]: 169.254.169.254/32 is inside 169.254.0.0/16`,
			dir + `service-allow-metadata.yaml:17: outbound.allow_hosts[2]: host "127.1" is a number in a non-standard form`,
		}, notWant: []string{"allow_cidrs[0]"}},
		"service-worker-timings.yaml": {want: []string{
			dir + `service-worker-timings.yaml:6: workers.lease: 1ms is too short: a lease must be at least 2s`,
			dir + `service-worker-timings.yaml:7: workers.sweep_interval: 1ms is too short: the sweep must run at most every 200ms`,
		}},
		"service-audit.yaml": {want: []string{
			dir + `service-audit.yaml:8: audit.report_sla: negative duration "-1m"`,
			dir + `service-audit.yaml:10: audit.anchors.interval: 10ms is too short: at least 1s`,
			dir + `service-audit.yaml:11: audit.anchors.url: scheme "ftp": want https (or http)`,
			dir + `service-audit.yaml:12: audit.anchors.syslog: want local, udp://HOST:PORT or tcp://HOST:PORT`,
			dir + `service-audit.yaml:13: audit.anchors.fiel: unknown key "fiel"`,
		}},
		"service-redis-sentinel.yaml": {want: []string{
			dir + `service-redis-sentinel.yaml:4: redis.sentinel.master_name: required: the master name the sentinels monitor`,
			dir + `service-redis-sentinel.yaml:7: redis.sentinel.addrs[1]: want HOST:PORT: address sentinel-1: missing port in address`,
			dir + `service-redis-sentinel.yaml:8: redis.sentinel.addrs[2]: sentinel-0:26379 is listed twice`,
		}},
		"service-redis-cluster.yaml": {want: []string{
			dir + `service-redis-cluster.yaml:4: redis.cluster.addrs: at least one HOST:PORT`,
			dir + `service-redis-cluster.yaml:5: redis.db: a Redis Cluster has only database 0`,
		}},
		"service-redis-two.yaml": {want: []string{
			dir + `service-redis-two.yaml:2: redis: set one of embedded: true, addr, sentinel or cluster, not 2 ([addr sentinel])`,
		}},
		"service-worker-grace.yaml": {want: []string{
			dir + `service-worker-grace.yaml:6: workers.shutdown_grace: 40s is out of range: the grace must be above 0 and at most 25s`,
		}},
		"service-worker-sweep.yaml": {want: []string{
			dir + `service-worker-sweep.yaml:7: workers.sweep_interval: 30s is longer than workers.lease (5s)`,
		}},
		"service-numeric-hosts.yaml": {want: []string{
			dir + `service-numeric-hosts.yaml:11: connectors.ad.sandbox.url: host "2130706433" is a number in a non-standard form (decimal, hex, octal, fewer than four parts or a trailing dot)`,
			dir + `service-numeric-hosts.yaml:14: connectors.vpn.sandbox.url: host "0x7f000001" is a number in a non-standard form`,
			dir + `service-numeric-hosts.yaml:17: connectors.badge.sandbox.url: host "127.1" is a number in a non-standard form`,
			dir + `service-numeric-hosts.yaml:20: connectors.assets.sandbox.url: host "0177.0.0.1" is a number in a non-standard form`,
		}, notWant: []string{"connectors.payroll"}},
		"policy-undefined-connector.yaml": {want: []string{
			dir + `policy-undefined-connector.yaml:4: actions.close_tickets.connector: connector "jira" is not configured (configured: ad, assets, aws, badge, m365, mdm, okta, payroll, salesforce, vpn)`,
		}},
		"policy-equipment.yaml": {want: []string{
			dir + `policy-equipment.yaml:9: equipment.categories.LT-X: "LT-X" is not an asset tag prefix`,
			dir + `policy-equipment.yaml:10: equipment.categories.PH: "mobile phone" is not a category name`,
			dir + `policy-equipment.yaml:12: equipment.teams[0].category: unknown category "tablet"`,
			dir + `policy-equipment.yaml:13: equipment.teams[1].team: team is required`,
			dir + `policy-equipment.yaml:14: equipment.teams[2].team: team "it-berlin" is not an approver group: add approver_groups.it-berlin`,
			dir + `policy-equipment.yaml:15: equipment.teams[3]: never matches: equipment.teams[2] matches every device first`,
			dir + `policy-equipment.yaml:16: equipment.teams[4]: never matches: equipment.teams[2] matches every device first`,
			dir + `policy-equipment.yaml:17: equipment.return_instructions: is 2002 bytes; at most 2000`,
		}},
		"policy-equipment-mdm.yaml": {want: []string{
			dir + `policy-equipment-mdm.yaml:8: equipment.tracker: connector "okta" (sandbox system okta) does not support operation "record_equipment_step"`,
			dir + `policy-equipment-mdm.yaml:10: equipment.mdm.connector: connector "nope" is not configured`,
			dir + `policy-equipment-mdm.yaml:11: equipment.mdm.lock_when[0]: "voluntary" is not a lock trigger (want involuntary)`,
			dir + `policy-equipment-mdm.yaml:12: equipment.mdm.lock_overdue_after: invalid duration "-3d"`,
			dir + `policy-equipment-mdm.yaml:14: equipment.due.phone: must be positive`,
			dir + `policy-equipment-mdm.yaml:14: equipment.due.tablet: unknown category "tablet"`,
		}},
		"policy-tickets.yaml": {want: []string{
			dir + `policy-tickets.yaml:8: tickets.connector: connector "okta" (sandbox system okta) is not a ticket system (types servicenow and jira file tickets)`,
			dir + `policy-tickets.yaml:11: tickets.teams.facilities.connector: connector "snow" is not configured`,
			dir + `policy-tickets.yaml:12: tickets.teams.it ops: "it ops" is not a team name`,
			dir + `policy-tickets.yaml:12: tickets.teams.it ops.project: must be at most 200 characters, without ^ or a line break`,
		}},
		"policy-tickets-teams.yaml": {want: []string{
			dir + `policy-tickets-teams.yaml:9: tickets.teams.it-assets: no ticket system: set tickets.connector or tickets.teams.it-assets.connector`,
		}},
		"policy-unknown-operation.yaml": {want: []string{
			dir + `policy-unknown-operation.yaml:5: actions.disable_vpn_user.operation: connector "vpn" (sandbox system vpn) does not support operation "disable_account" (supported: revoke_vpn)`,
		}},
		"policy-undefined-dependency.yaml": {want: []string{
			dir + `policy-undefined-dependency.yaml:7: actions.remove_ad_groups.depends_on[0]: unknown action "disable_ad"`,
		}},
		"policy-reconcile.yaml": {want: []string{
			dir + `policy-reconcile.yaml:10: reconcile.after[1]: offsets must increase one after another`,
			dir + `policy-reconcile.yaml:11: reconcile.after[2]: must be a positive duration`,
			dir + `policy-reconcile.yaml:12: reconcile.nightly_days: must be between 0 (off) and 366`,
		}},
		"policy-cycle.yaml": {want: []string{
			dir + `policy-cycle.yaml:7: actions.disable_ad.depends_on: dependency cycle: disable_ad -> remove_ad_groups -> disable_ad`,
		}},
		"policy-later-phase.yaml": {want: []string{
			dir + `policy-later-phase.yaml:7: actions.disable_ad.depends_on[0]: "notify_payroll" is in the later phase notifications`,
		}},
		"policy-cel-compile.yaml": {want: []string{
			dir + `policy-cel-compile.yaml:11: rules[1].when: CEL does not compile: undefined field 'departmnt' (column 9)`,
		}},
		"policy-cel-string.yaml": {want: []string{
			dir + `policy-cel-string.yaml:11: rules[1].when: CEL must return a bool, not string`,
		}},
		"policy-undefined-action.yaml": {want: []string{
			dir + `policy-undefined-action.yaml:9: rules[0].add[1]: unknown action "wipe_laptop"`,
			dir + `policy-undefined-action.yaml:10: rules[0].remove[0]: unknown action "disable_vpn"`,
		}},
		"policy-bad-duration.yaml": {want: []string{
			dir + `policy-bad-duration.yaml:4: defaults.sla.critical: invalid duration "1 hour"`,
			dir + `policy-bad-duration.yaml:5: defaults.sla.overnight: unknown phase "overnight"`,
			dir + `policy-bad-duration.yaml:11: actions.disable_ad.sla: negative duration "-5m"`,
			dir + `policy-bad-duration.yaml:16: rules[0].sla.critcal: "critcal" is neither an action nor a phase`,
		}},
		"policy-rules.yaml": {want: []string{
			dir + `policy-rules.yaml:1: version: unsupported version 2 (want 1)`,
			dir + `policy-rules.yaml:6: actions.disable_ad.phase: unknown phase "urgent"`,
			dir + `policy-rules.yaml:9: actions.disable_ad.mode: unknown key "mode"`,
			dir + `policy-rules.yaml:13: rules[1].name: duplicate rule name "everyone" (also rules[0])`,
			dir + `policy-rules.yaml:15: rules[2].name: every rule needs a name`,
		}},
		// A clock never stands in for the two-person rule: not for a step
		// that needs two people, not while the rule holds for every case.
		"policy-clock-approves.yaml": {want: []string{
			dir + `policy-clock-approves.yaml:13: chains.it.steps[0].on_timeout: approve on timeout is not allowed while two_person_rule_when always holds`,
			dir + `policy-clock-approves.yaml:20: chains.pair.steps[0].on_timeout: a step that needs more than one approver (mode n_of) cannot approve on timeout`,
		}},
	}

	files, err := filepath.Glob(dir + "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		base := filepath.Base(path)
		tc, ok := cases[base]
		if !ok {
			t.Errorf("%s has no expectations in this table", path)
			continue
		}
		delete(cases, base)
		t.Run(strings.TrimSuffix(base, ".yaml"), func(t *testing.T) {
			var err error
			if strings.HasPrefix(base, "policy-") {
				_, err = LoadPolicy(path, def.Service)
			} else {
				_, err = loadT(path)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v (%T), want *Errors", err, err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("missing %q", w)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(msg, nw) {
					t.Errorf("error mentions %q", nw)
				}
			}
			if len(errs.List) > len(tc.want) {
				t.Errorf("%d errors, want %d", len(errs.List), len(tc.want))
			}
			if t.Failed() {
				t.Logf("errors:\n%s", msg)
			}
		})
	}
	for name := range cases {
		t.Errorf("testdata/invalid/%s is missing", name)
	}
}

func TestLoadReportsManyErrorsAtOnce(t *testing.T) {
	clearEnv(t)
	_, err := loadT("testdata/invalid/service-many.yaml")
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want *Errors", err)
	}
	if len(errs.List) < 3 {
		t.Fatalf("%d errors, want at least 3:\n%v", len(errs.List), err)
	}
	keys := map[string]bool{}
	for _, e := range errs.List {
		if e.File != "testdata/invalid/service-many.yaml" || e.Line == 0 || e.Key == "" {
			t.Errorf("error without file, line and key: %+v", e)
		}
		keys[e.Key] = true
	}
	// Problems of every stage are reported together: unknown keys, a
	// custom unmarshaler's error (duration), a YAML type error and
	// semantic validation.
	for _, k := range []string{"log.levle", "workers.lease", "workers.concurrency", "database.driver", "connectors.zendesk.type"} {
		if !keys[k] {
			t.Errorf("no error for %s", k)
		}
	}
	// Lines are in order.
	for i := 1; i < len(errs.List); i++ {
		if errs.List[i].Line < errs.List[i-1].Line {
			t.Errorf("errors not sorted by line: %v", err)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "k.yaml", Line: 3, Key: "http.addr", Msg: "bad"}, "k.yaml:3: http.addr: bad"},
		{Error{File: "k.yaml", Key: "policy", Msg: "required"}, "k.yaml: policy: required"},
		{Error{File: "k.yaml", Line: 1, Msg: "syntax"}, "k.yaml:1: syntax"},
		{Error{Key: "redis", Msg: "x"}, "redis: x"},
		{Error{Line: 2, Msg: "x"}, "line 2: x"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
	errs := &Errors{List: []Error{{File: "a", Line: 2, Msg: "two"}, {File: "a", Line: 1, Msg: "one"}}}
	if got := errs.err().Error(); got != "a:1: one\na:2: two" {
		t.Errorf("Errors = %q", got)
	}
	if (&Errors{}).err() != nil {
		t.Error("no problems must be a nil error")
	}
}

func TestSyntaxAndShapeErrors(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"http: [\n", "s.yaml:1: did not find expected node content"},
		{"- 1\n- 2\n", "s.yaml:1: cannot unmarshal !!seq into configs.Service"},
		{"policy: p.yaml\nredis: {embedded: true}\n---\nhttp: {}\n", "s.yaml:3: a configuration file holds one YAML document"},
		{"policy: p.yaml\nredis:\n  embedded: true\n  embedded: false\n", `s.yaml:4: redis.embedded: mapping key "embedded" already defined at line 3`},
		{"policy: p.yaml\nredis: {embedded: true}\nconnectors:\n  ad: {type: sandbox, sandbox: {system: ad}, rate_limit: {requests: x, per: 1m}}\n",
			"s.yaml:4: connectors.ad.rate_limit.requests: cannot unmarshal !!str `x` into int"},
	} {
		_, err := parseServiceT("s.yaml", []byte(tc.data))
		var errs *Errors
		if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v\nwant *Errors saying %q", tc.data, err, tc.want)
		}
		// A value that failed to decode is not also reported as invalid.
		if err != nil && strings.Count(err.Error(), "rate_limit.requests") > 1 {
			t.Errorf("%q: reported twice: %v", tc.data, err)
		}
	}
}
