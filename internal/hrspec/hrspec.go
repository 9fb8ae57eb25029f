// Package hrspec is what configuration needs to know about HR data
// sources to load them, as internal/connspec is for connectors: the HR
// directory source types (directory.type and its block) and the HR event
// front end (the hr: block). Each source package exports a descriptor
// holding its spec and its constructor (directory.Descriptor,
// bot/hr/hrconfig.Descriptor); internal/compose/table lists them and hands
// their specs to configs. It is a leaf, so configs links no HR system's client.
package hrspec

// Directory describes one HR directory source type. Every func receives
// the pointer NewBlock returned, decoded from the type's block.
type Directory struct {
	// Type is the type name: directory.type, and its block's key below
	// directory (e.g. "workday").
	Type string
	// NewBlock returns a pointer to an empty block (*workday.Config); the
	// loader decodes the block into it strictly, resolves its secrets and
	// keeps it as configs.DirectorySource.Block.
	NewBlock func() any
	// Validate reports every problem with the block, joined; a
	// *connspec.FieldError is reported at its key below the block.
	Validate func(block any) error
	// URLs returns, by key below the block (e.g. "oauth.token_url"), the
	// URLs the source calls, for the outbound URL policy. A URL whose form
	// is wrong is left out (Validate reports it).
	URLs func(block any) map[string]string
}

// Events describes an HR event front end's top-level block (bot/hr's hr:
// block: signed webhooks and pollers).
type Events struct {
	// Key is the block's top-level key ("hr").
	Key string
	// NewBlock returns a pointer to an empty block (*hrconfig.Config),
	// decoded strictly; its secrets are resolved and it is kept as
	// configs.Service.HR.
	NewBlock func() any
	// Validate reports every problem with the block, joined; a
	// *connspec.FieldError is reported at its key below Key.
	Validate func(block any) error
	// URLs returns, by key below Key, the URLs the front end calls
	// (pollers), for the outbound URL policy.
	URLs func(block any) map[string]string
}
