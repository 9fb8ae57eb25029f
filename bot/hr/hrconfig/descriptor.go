package hrconfig

import "github.com/kineticsec/kinetic/internal/hrspec"

// Descriptor describes the HR event front end's configuration, the service
// file's hr: block, for internal/compose's table: configs decodes,
// validates and resolves it into a *Config with this spec and keeps it as
// configs.Service.HR; internal/compose hands it (ConfigOf) to bot/hr's
// Routes and StartPollers. The event sources are the webhook and poller
// formats bot/hr implements. It lives here, not in bot/hr, so that the
// table links no engine.
func Descriptor() hrspec.Events {
	return hrspec.Events{
		Key:      "hr",
		NewBlock: func() any { return &Config{} },
		Validate: func(b any) error { return b.(*Config).Validate() },
		URLs:     func(b any) map[string]string { return b.(*Config).URLs() },
	}
}

// ConfigOf returns the block Descriptor's spec decoded (the value of
// configs.Service.HR), or nil when there is none.
func ConfigOf(block any) *Config {
	c, _ := block.(*Config)
	return c
}
