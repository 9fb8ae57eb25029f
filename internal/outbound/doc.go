// Package outbound owns the outbound URL policy, Kinetic's guard against
// server-side request forgery: the checks on a configured URL's form
// (CheckURLForm), on the outbound.allow_cidrs and allow_hosts entries
// (CheckAllowCIDR, CheckAllowHost), and the URLPolicy that every
// connection to a vendor passes, at load time and at dial time.
//
// It is a leaf: it imports only the standard library, so connectors, HR
// sources and chat front ends all use it without importing each other.
package outbound
