package ldap

// Hooks for the tests in package ldap_test.

// InjectNext makes the next call on c fail with err at its first round
// trip, before anything is sent, as if the server had answered err (an
// *ldap.Error with a result code goes through the same classification as
// a real answer).
func InjectNext(c *Connector, err error) { c.inject.Store(&err) }

// ForbidPlain turns allow_insecure_plain_ldap off on a built connector, to
// check the refusal at bind time that backs up Validate's.
func ForbidPlain(c *Connector) { c.cfg.AllowInsecurePlainLDAP = false }

// FilterFor returns the search filter c uses for a match value.
func FilterFor(c *Connector, value string) string { return c.userFilter(value) }

// EncodeUnicodePwd is encodeUnicodePwd, for creating test users.
var EncodeUnicodePwd = encodeUnicodePwd
