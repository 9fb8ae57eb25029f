package hrconfig

import "github.com/kineticsec/kinetic/internal/hrspec"

// Descriptor describes the HR event front end's configuration, the service
// file's hr: block, for internal/compose's table: configs decodes,
// validates and resolves it into a *Config with this spec and keeps it as
// configs.Service.HR; internal/compose hands it (ConfigOf) to bot/hr's
// Routes and StartPollers. pollers are the poller formats its pollers may
// name and webhooks the webhook formats its webhooks may name (the
// table's, one line each): the decoded Config carries them
// (Config.PollerFormats, Config.WebhookFormats) to validation and to
// bot/hr. It lives here, not
// in bot/hr, so that the table links no engine.
func Descriptor(pollers []PollerFormat, webhooks []WebhookFormat) hrspec.Events {
	use := func(c *Config) *Config { return c.Use(pollers...).UseWebhooks(webhooks...) }
	return hrspec.Events{
		Key:      "hr",
		NewBlock: func() any { return use(&Config{}) },
		Validate: func(b any) error { return use(b.(*Config)).Validate() },
		URLs:     func(b any) map[string]string { return use(b.(*Config)).URLs() },
	}
}

// ConfigOf returns the block Descriptor's spec decoded (the value of
// configs.Service.HR), or nil when there is none.
func ConfigOf(block any) *Config {
	c, _ := block.(*Config)
	return c
}
